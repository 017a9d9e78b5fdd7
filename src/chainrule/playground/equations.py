"""The numbers behind one weight or one unit, in the course's notation, with values plugged in.

Layer l computes ``Z[l] = W[l] A[l-1] + b[l]`` and ``A[l] = g(Z[l])`` with examples as
columns (``A[0]`` is the input X).  Backpropagation starts from the output error,
``dZ[L] = A[L] - Y`` for a sigmoid with binary cross-entropy or a softmax with
cross-entropy, and goes right to left: ``dZ[l] = W[l+1]^T dZ[l+1] * g'(Z[l])``,
``dJ/dW[l] = (1/m) dZ[l] A[l-1]^T`` and ``dJ/db[l] = (1/m) sum_i dZ[l]``.  Here ``dZ[l]`` is
each example's own error, m times the engine's ``dJ/dZ[l]`` for a batch of m examples.

Every number comes from the engine: one forward and backward pass explained by
:func:`chainrule.explain`, whose tables are included for a single example.  The sums written
out here are checked against the engine's gradient in the tests.  Units and examples are
numbered from 0, as in Python (``W2[0, 3]`` is ``model[2].weight[0, 3]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..engine import softmax, tensor
from ..errors import ConfigError
from ..tools.explain import explain
from .session import Run

__all__ = ["Pass", "explain_unit", "explain_weight", "forward_pass"]

SHOWN_TERMS = 3  # terms of a sum written out before "..."


def _n(x: float) -> str:
    return f"{float(x):.4g}"


def _p(x: float) -> str:
    """A factor in a product: negative numbers in parentheses."""
    s = _n(x)
    return f"({s})" if s.startswith("-") else s


@dataclass
class Pass:
    """One forward and backward pass over some training rows, explained by the engine.

    ``A[l]`` and ``Z[l]`` are arrays with examples as rows (the engine's layout);
    ``dz[l]`` is m times the engine's dJ/dZ[l], the course's per-example error dZ[l].
    """

    rows: np.ndarray
    m: int
    A: list[np.ndarray]  # A[0] = X, ..., A[L] the output (probabilities for softmax)
    Z: list[np.ndarray | None]  # Z[0] is None
    dz: list[np.ndarray | None]  # the course's dZ[l]
    dw: list[np.ndarray | None]  # the engine's dJ/dW[l]; dw[0] is None
    db: list[np.ndarray | None]
    Y: np.ndarray  # the targets as the output compares them, one column per output unit
    loss: float
    table: str  # explain's forward and backward tables


def forward_pass(run: Run, rows: np.ndarray) -> Pass:
    """Run the network on the training rows ``rows`` and explain it (tools.explain)."""
    # a diverged network overflows: its numbers show as inf and nan, without warnings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _forward_pass(run, rows)


def _forward_pass(run: Run, rows: np.ndarray) -> Pass:
    X = run.data.X_train[rows]
    T = run.T_train[rows]
    x = tensor(X)
    names: dict[str, Any] = {"X": x}
    A: list[np.ndarray] = [X]
    Z: list[Any] = [None]
    a = x
    layer = 0
    for module in run.model:
        a = module(a)
        if isinstance(module, nn.Linear):
            layer += 1
            names[f"W{layer}"], names[f"b{layer}"], names[f"Z{layer}"] = (
                module.weight, module.bias, a)
            Z.append(a)
        else:
            names[f"A{layer}"] = a
            A.append(np.asarray(a.data))
    J = run.loss_fn(a, T)
    names["J"] = J
    ex = explain(J, names=names)
    L = layer
    if len(A) == L:  # no activation module after the last Linear: A[L] is Z[L] or softmax
        out = np.asarray(Z[L].data)
        if run.output == "softmax_ce":
            out = np.asarray(softmax(tensor(out), axis=-1).data)
        A.append(out)
    m = len(rows)
    if run.output == "softmax_ce":
        Y = np.eye(run.n_out)[np.asarray(T)]
    else:
        Y = np.asarray(T, dtype=np.float64).reshape(m, -1)
    table = str(ex) if m == 1 else ""

    def grad(name: str) -> np.ndarray:  # explain gives one-element gradients as floats
        return np.asarray(ex.grad(name), dtype=np.float64).reshape(names[name].data.shape)

    return Pass(rows, m, A, [None, *(np.asarray(z.data) for z in Z[1:])],
                [None, *(m * grad(f"Z{lay}") for lay in range(1, L + 1))],
                [None, *(grad(f"W{lay}") for lay in range(1, L + 1))],
                [None, *(grad(f"b{lay}") for lay in range(1, L + 1))],
                Y, float(J.item()), table)


def _whole(value: object) -> bool:
    """A whole number in Python's sense, not a bool (True would index like 1, or as a mask)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _rows(run: Run, example: int | None) -> np.ndarray:
    if example is None:
        return np.asarray(run.last_rows)
    m = len(run.data.X_train)
    if not _whole(example) or not 0 <= example < m:
        raise ConfigError(f"example must be a training example number from 0 to {m - 1}, got "
                          f"{example!r}")
    return np.array([int(example)])


def _derivative(run: Run, lay: int, p: Pass, i: int, j: int) -> tuple[str, str, float]:
    """g'(Z[l]) at example i, unit j: (its general formula, it with numbers, its value)."""
    a, z = p.A[lay][i, j], p.Z[lay][i, j]
    act = run.cfg.activation
    if act == "tanh":
        return "1 - A²", f"(1 - {_p(a)}²)", 1 - a * a
    if act == "sigmoid":
        return "A (1 - A)", f"{_p(a)} × (1 - {_p(a)})", a * (1 - a)
    slope = 0.0 if act == "relu" else 0.01
    value = 1.0 if z > 0 else slope
    cmp = ">" if z > 0 else "≤"
    return f"1 if Z > 0 else {slope:g}", f"[Z{lay}[{j},i] = {_n(z)} {cmp} 0: {value:g}]", value


def _delta(run: Run, lay: int, j: int, p: Pass, i: int) -> dict[str, Any]:
    """Where dZ[l][j, i] comes from, for example i of the pass."""
    L = len(p.A) - 1
    engine = float(p.dz[lay][i, j])
    e = int(p.rows[i])
    if lay == L:
        a, y = p.A[L][i, j], p.Y[i, j]
        if run.output == "linear_mse":
            n = run.n_out
            general = f"dZ{L} = (2/{n}) (A{L} - Y)" if n > 1 else f"dZ{L} = 2 (A{L} - Y)"
            factor = 2.0 / n
            entry = f"dZ{L}[{j},i] = {_n(factor)} × (A{L}[{j},i] - Y[{j},i])"
            plugged = f"{_n(factor)} × ({_n(a)} - {_n(y)}) = {_n(factor * (a - y))}"
            value = factor * (a - y)
        else:
            general = f"dZ{L} = A{L} - Y"
            entry = f"dZ{L}[{j},i] = A{L}[{j},i] - Y[{j},i]"
            plugged = f"{_n(a)} - {_n(y)} = {_n(a - y)}"
            value = a - y
    else:
        W_next = p_weight(run, lay + 1)
        back = float(W_next[:, j] @ p.dz[lay + 1][i])
        gen_d, num_d, d = _derivative(run, lay, p, i, j)
        general = (f"dZ{lay} = W{lay + 1}ᵀ dZ{lay + 1} ∘ g'(Z{lay}),  "
                   f"{run.cfg.activation}: g' = {gen_d}")
        terms = " + ".join(f"{_p(w)}·{_p(dz)}" for w, dz in zip(W_next[:, j],
                                                                  p.dz[lay + 1][i]))
        entry = (f"dZ{lay}[{j},i] = (Σ_u W{lay + 1}[u,{j}] dZ{lay + 1}[u,i]) "
                 f"× g'(Z{lay}[{j},i])")
        plugged = f"({terms}) × {num_d} = {_n(back)} × {_n(d)} = {_n(back * d)}"
        value = back * d
    return {"general": general, "entry": entry, "example": e,
            "plugged": f"for example i = {e}: {plugged}", "value": float(value),
            "engine": engine}


def p_weight(run: Run, lay: int) -> np.ndarray:
    """W[l] as it is now (shape n[l] x n[l-1])."""
    return np.asarray(run.linears[lay - 1].weight.data)


def _sum_text(products: list[str], m: int, total: float) -> str:
    shown = " + ".join(products[:SHOWN_TERMS])
    more = m - SHOWN_TERMS
    rest = f" + ... ({more} more terms)" if more > 0 else ""
    return f"(1/{m}) × ({shown}{rest}) = {_n(total)}"


def _update(run: Run, value: float, grad: float) -> str:
    lr = run.cfg.lr
    if run.cfg.optimizer in ("gd", "sgd"):
        return (f"next step: w ← w - α dJ/dw = {_n(value)} - {_n(lr)} × {_p(grad)} = "
                f"{_n(value - lr * grad)}")
    if run.cfg.optimizer == "momentum":
        return "next step: v ← 0.9 v + dJ/dw, then w ← w - α v (α = " + _n(lr) + ")"
    return ("next step: Adam moves w by about α = " + _n(lr) + " in the direction of -dJ/dw, "
            "scaled by running averages of dJ/dw and its square")


def _scope(p: Pass) -> str:
    if p.m == 1:
        return f"one example (i = {int(p.rows[0])})"
    return f"the batch of the last step (m = {p.m} examples)"


def explain_weight(run: Run, layer: int, row: int, col: int,
                   example: int | None = None) -> dict[str, Any]:
    """Value, gradient and equations of weight ``W[layer][row, col]``, for the last step's
    batch or for one training ``example``."""
    L = len(run.linears)
    if not _whole(layer) or not 1 <= layer <= L:
        raise ConfigError(f"layer must be 1 to {L} (W1 ... W{L}), got {layer!r}")
    W = p_weight(run, layer)
    if not (_whole(row) and _whole(col)
            and 0 <= row < W.shape[0] and 0 <= col < W.shape[1]):
        raise ConfigError(f"W{layer} has shape {W.shape}; row must be 0 to {W.shape[0] - 1} and "
                          f"col 0 to {W.shape[1] - 1}, got {row!r}, {col!r}")
    p = forward_pass(run, _rows(run, example))
    lay, j, k = layer, row, col
    grad = float(p.dw[lay][j, k])
    dz, a_prev = p.dz[lay][:, j], p.A[lay - 1][:, k]
    formula = float(dz @ a_prev / p.m)
    prev = "X" if lay == 1 else f"A{lay - 1}"
    products = [f"{_p(d)}·{_p(a)}" for d, a in zip(dz, a_prev)]
    source = f"input x{k + 1}" if lay == 1 else f"unit {k} of layer {lay - 1}"
    target = f"output unit {j}" if lay == L else f"unit {j} of layer {lay}"
    value = float(W[j, k])
    return {
        "kind": "weight", "layer": lay, "row": j, "col": k,
        "name": f"W{lay}[{j},{k}]",
        "python": f"model[{2 * (lay - 1)}].weight.data[{j}, {k}]",
        "connects": f"from {source} to {target}",
        "value": value, "grad": grad, "formula_grad": formula,
        "scope": _scope(p), "m": p.m, "loss": p.loss,
        "general": f"dJ/dW{lay} = (1/m) dZ{lay} {'Xᵀ' if lay == 1 else f'A{lay - 1}ᵀ'}",
        "entry": f"dJ/dW{lay}[{j},{k}] = (1/m) Σ_i dZ{lay}[{j},i] · {prev}[{k},i]",
        "plugged": _sum_text(products, p.m, formula),
        "delta": _delta(run, lay, j, p, 0),
        "update": _update(run, value, grad),
        "table": p.table,
    }


def explain_unit(run: Run, layer: int, unit: int, example: int | None = None) -> dict[str, Any]:
    """A unit's output, its bias and the gradient dJ/db with the numbers plugged in."""
    L = len(run.linears)
    if not _whole(layer) or not 0 <= layer <= L:
        raise ConfigError(f"layer must be 0 (the inputs) to {L}, got {layer!r}")
    n = run.sizes[layer]
    if not _whole(unit) or not 0 <= unit < n:
        raise ConfigError(f"layer {layer} has {n} units (0 to {n - 1}), got {unit!r}")
    p = forward_pass(run, _rows(run, example))
    i0 = int(p.rows[0])
    if layer == 0:
        x = p.A[0][0, unit]
        return {"kind": "unit", "layer": 0, "unit": unit, "name": f"x{unit + 1}",
                "value": float(x), "scope": _scope(p),
                "general": f"the input feature x{unit + 1} = A0[{unit},i]",
                "plugged": f"for example i = {i0}: x{unit + 1} = {_n(x)}",
                "table": p.table}
    lay, j = layer, unit
    b = float(run.linears[lay - 1].bias.data[j])
    dz = p.dz[lay][:, j]
    formula = float(dz.mean())
    act = {"sigmoid_bce": "sigmoid", "softmax_ce": "softmax", "linear_mse": ""}[run.output] \
        if lay == L else run.cfg.activation
    return {
        "kind": "unit", "layer": lay, "unit": j,
        "name": f"A{lay}[{j}]" if lay < L else f"output {j}",
        "value": float(p.A[lay][0, j]), "z": float(p.Z[lay][0, j]),
        "mean": float(p.A[lay][:, j].mean()),
        "bias": b, "grad": float(p.db[lay][j]), "formula_grad": formula,
        "scope": _scope(p), "m": p.m, "loss": p.loss,
        "forward": (f"Z{lay}[{j},i] = Σ_k W{lay}[{j},k] A{lay - 1}[k,i] + b{lay}[{j}] = "
                    f"{_n(p.Z[lay][0, j])},  A{lay}[{j},i] = {act}(Z{lay}[{j},i]) = "
                    f"{_n(p.A[lay][0, j])}  "
                    f"(example i = {i0})"),
        "general": f"dJ/db{lay} = (1/m) Σ_i dZ{lay}[:,i]",
        "entry": f"dJ/db{lay}[{j}] = (1/m) Σ_i dZ{lay}[{j},i]",
        "plugged": _sum_text([_n(d) for d in dz], p.m, formula).replace("·", ""),
        "delta": _delta(run, lay, j, p, 0),
        "update": _update(run, b, float(p.db[lay][j])),
        "table": p.table,
    }
