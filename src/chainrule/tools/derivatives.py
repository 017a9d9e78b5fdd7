"""Derivatives three ways: by nudging, by symbols, and by backpropagation, side by side.

* :func:`nudge`: the course's informal definition, "if w goes up by epsilon and J goes up by
  k epsilon, the derivative is k", as a table for several epsilons next to the engine's value.
* :func:`symbolic`: the derivative SymPy derives, evaluated at a point, next to the engine's
  (SymPy is an optional extra: ``pip install chainrule[sympy]``).
* :func:`backprop_cost`: why backpropagation wins.  One backward pass costs about as much as
  one forward pass (the course's N + P steps); finite differences need one forward pass per
  parameter (N x P).  This measures both on a real network.

>>> table = nudge(lambda w: w ** 2, {"w": 3.0}, epsilons=(0.001, 0.002))
>>> [round(r.J_nudged, 6) for r in table.rows]   # the seed: 9.006001 and 9.012004
[9.006001, 9.012004]
>>> table.rows[0].engine
6.0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import engine
from ..engine import Tensor, no_grad

__all__ = [
    "CostReport",
    "NudgeRow",
    "NudgeTable",
    "SymbolicRow",
    "SymbolicTable",
    "backprop_cost",
    "nudge",
    "symbolic",
]


def _table(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _g(x: float) -> str:
    return f"{x:.10g}"


# -- 1. nudging --------------------------------------------------------------------------------

@dataclass
class NudgeRow:
    """One nudge: ``param`` goes from its value up by ``epsilon``; J goes from J to J_nudged."""

    param: str
    epsilon: float
    J: float
    J_nudged: float
    k: float  # (J_nudged - J) / epsilon, the course's "J changes by k epsilon"
    engine: float  # dJ/d(param) from backpropagation

    @property
    def error(self) -> float:
        return self.k - self.engine


@dataclass
class NudgeTable:
    """The rows of :func:`nudge`; ``str()`` gives the table."""

    rows: list[NudgeRow]

    def __str__(self) -> str:
        body = [(r.param, _g(r.epsilon), _g(r.J), _g(r.J_nudged), _g(r.J_nudged - r.J),
                 _g(r.k), _g(r.engine), f"{r.error:.2e}") for r in self.rows]
        return _table(("param", "epsilon", "J", "J(param + eps)", "change", "k = change/eps",
                       "engine dJ/dparam", "k - engine"), body)


def _as_tensors(at: Mapping[str, Any], requires_grad: bool) -> dict[str, Tensor]:
    return {k: Tensor(np.array(v, dtype=np.float64), requires_grad=requires_grad)
            for k, v in at.items()}


def _value(func: Callable[..., Tensor], at: Mapping[str, np.ndarray]) -> float:
    with no_grad():
        out = func(**_as_tensors(at, False))
    return float(out.item())


def nudge(func: Callable[..., Tensor], at: Mapping[str, Any],
          epsilons: Sequence[float] = (1e-1, 1e-2, 1e-3, 1e-6)) -> NudgeTable:
    """Nudge each parameter by each epsilon and compare (J(w + eps) - J(w)) / eps with dJ/dw.

    ``func`` takes the parameters as keyword tensors and returns a one-element tensor J;
    ``at`` maps each parameter name to its value (a number or an array: every entry is
    nudged in turn, named like ``W[0, 1]``).  Everything runs in float64.  The forward
    difference is what the course computes; its error shrinks like epsilon until rounding
    takes over (around 1e-8), which the table shows.

    >>> import chainrule as cr
    >>> t = nudge(lambda w, b: 0.5 * (w * -2.0 + b - 2.0) ** 2, {"w": 2.0, "b": 8.0},
    ...           epsilons=(0.001,))
    >>> [(r.param, round(r.k, 4), r.engine) for r in t.rows]   # k = -4 + 2 eps and 2 + eps / 2
    [('w', -3.998, -4.0), ('b', 2.0005, 2.0)]

    Args:
        func: A function of keyword tensors (the parameters) returning a one-element tensor.
        at: Each parameter's name and value (a number or an array).
        epsilons: The nudges to try, each one a row per parameter entry.

    Returns:
        The table (``print()`` it; ``.rows`` holds the numbers).
    """
    point = {k: np.array(v, dtype=np.float64) for k, v in at.items()}
    params = _as_tensors(point, True)
    J = func(**params)
    if not isinstance(J, Tensor) or J.data.size != 1:
        raise ValueError("nudge: func must return a one-element Tensor (the cost J)")
    J.backward()
    J0 = float(J.item())
    rows = []
    for name, value in point.items():
        grad = params[name].grad
        for idx in np.ndindex(value.shape):
            label = name if value.ndim == 0 else f"{name}[{', '.join(map(str, idx))}]"
            engine = 0.0 if grad is None else float(grad[idx])
            for eps in epsilons:
                moved = dict(point)
                moved[name] = value.copy()
                moved[name][idx] += eps
                J1 = _value(func, moved)
                rows.append(NudgeRow(label, float(eps), J0, J1, (J1 - J0) / eps, engine))
    return NudgeTable(rows)


# -- 2. symbols ----------------------------------------------------------------------------------

@dataclass
class SymbolicRow:
    """d(expr)/d(symbol): SymPy's formula, its value at the point, and the engine's value."""

    symbol: str
    derivative: str
    symbolic: float
    engine: float

    @property
    def error(self) -> float:
        return self.engine - self.symbolic


@dataclass
class SymbolicTable:
    """The rows of :func:`symbolic`; ``str()`` gives the table."""

    expression: str
    value: float
    rows: list[SymbolicRow]

    def __str__(self) -> str:
        body = [(f"dJ/d{r.symbol}", r.derivative, _g(r.symbolic), _g(r.engine),
                 f"{r.error:.2e}") for r in self.rows]
        return (f"J = {self.expression} = {_g(self.value)}\n"
                + _table(("derivative", "SymPy", "SymPy value", "engine", "engine - SymPy"),
                         body))


def _engine_functions() -> dict[str, Any]:
    """SymPy function names mapped to the engine's differentiable versions."""
    return {"exp": engine.exp, "log": engine.log, "sqrt": engine.sqrt, "tanh": engine.tanh,
            "Abs": engine.abs, "Max": engine.maximum, "Min": engine.minimum}


def symbolic(expr: Any, at: Mapping[Any, float],
             func: Callable[..., Tensor] | None = None) -> SymbolicTable:
    """Differentiate a SymPy expression by SymPy and by the engine, at the point ``at``.

    ``at`` maps each symbol (or its name) to a number.  The engine evaluates the same
    expression on tensors (SymPy's ``lambdify`` with the engine's exp, log, sqrt, tanh, ...),
    or ``func`` if given, a function of keyword tensors named like the symbols.

    >>> import sympy
    >>> w = sympy.Symbol("w")
    >>> t = symbolic(w ** 3, {w: 2})           # the seed: 3 w^2 at w = 2 is 12
    >>> t.rows[0].derivative, t.rows[0].symbolic, t.rows[0].engine
    ('3*w**2', 12.0, 12.0)

    Args:
        expr: A SymPy expression.
        at: Each symbol (or its name) and its value.
        func: The same function written with tensors, as keyword arguments named like the
            symbols; by default the expression itself, evaluated on tensors.

    Returns:
        The table, one row per symbol (``print()`` it; ``.rows`` holds the numbers).

    SymPy is an optional extra: ``pip install 'chainrule[sympy]'``.
    """
    import sympy  # optional extra: only this function needs it

    expr = sympy.sympify(expr)
    by_name = {str(s): s for s in expr.free_symbols}
    point: dict[Any, float] = {}
    for key, value in at.items():
        sym = by_name.get(str(key), key if isinstance(key, sympy.Symbol) else sympy.Symbol(key))
        point[sym] = float(value)
    symbols = sorted(point, key=str)
    if func is None:
        f = sympy.lambdify(symbols, expr, modules=[_engine_functions(), "math"])
        def func(**kw: Tensor) -> Tensor:
            return f(*(kw[str(s)] for s in symbols))
    tensors = {str(s): Tensor(np.array(point[s]), requires_grad=True) for s in symbols}
    J = func(**tensors)
    if not isinstance(J, Tensor):  # an expression free of the symbols gives a plain number
        J = Tensor(np.array(float(J)))
    if J.requires_grad:
        J.backward()
    rows = []
    for s in symbols:
        d = sympy.diff(expr, s)
        g = tensors[str(s)].grad
        rows.append(SymbolicRow(str(s), str(d), float(d.subs(point)),
                                0.0 if g is None else float(g)))
    return SymbolicTable(str(expr), float(expr.subs(point)), rows)


# -- 3. the cost argument ------------------------------------------------------------------------

@dataclass
class CostReport:
    """Timings of backpropagation against finite differences for one network."""

    n_params: int  # P
    n_nodes: int  # N, the operations in one forward pass
    forward_s: float  # one forward pass (cost only)
    backprop_s: float  # one forward + backward pass: every dJ/dw at once
    finite_diff_s: float  # P + 1 forward passes (measured, or extrapolated: see `measured`)
    measured: int  # how many parameters were actually nudged
    max_abs_diff: float  # |finite difference - backprop| over the measured parameters

    @property
    def ratio(self) -> float:
        """How many times slower finite differences are than backpropagation."""
        return self.finite_diff_s / self.backprop_s

    def __str__(self) -> str:
        how = ("measured" if self.measured == self.n_params
               else f"extrapolated from {self.measured} parameters")
        return "\n".join([
            f"parameters P = {self.n_params}, graph nodes N = {self.n_nodes}",
            f"one forward pass:                  {self.forward_s * 1e3:10.3f} ms",
            f"backprop (forward + backward):     {self.backprop_s * 1e3:10.3f} ms  "
            f"(~N + P steps)",
            f"finite differences (P+1 forwards): {self.finite_diff_s * 1e3:10.3f} ms  "
            f"(~N x P steps, {how})",
            f"finite differences take {self.ratio:.0f}x as long; they agree with backprop to "
            f"{self.max_abs_diff:.1e}",
        ])


def count_operations(output: Tensor) -> int:
    """N, the number of operations (non-leaf nodes) in the graph behind ``output``."""
    seen, stack, count = {id(output)}, [output], 0
    while stack:
        t = stack.pop()
        count += not t.is_leaf
        for parent in t.inputs:
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return count


def _best_time(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def backprop_cost(model: Any, X: Any, y: Any, loss_fn: Callable[[Tensor, Tensor], Tensor],
                  max_measured: int = 2000, eps: float = 1e-6, repeats: int = 3,
                  seed: int = 0) -> CostReport:
    """Time one backward pass against P one-sided finite differences for ``model``.

    With more than ``max_measured`` parameters, that many (chosen at random) are nudged and
    the time is scaled up to all P.  The model's parameters are restored exactly.

    >>> import numpy as np, chainrule as cr
    >>> model = cr.nn.Sequential(cr.nn.Linear(2, 3, dtype=np.float64, rng=0), cr.nn.Tanh(),
    ...                          cr.nn.Linear(3, 1, dtype=np.float64, rng=1))
    >>> X, y = np.ones((4, 2)), np.zeros((4, 1))
    >>> report = backprop_cost(model, X, y, cr.nn.MSELoss(), repeats=1)
    >>> report.n_params, report.measured, report.max_abs_diff < 1e-5
    (13, 13, True)

    Args:
        model: The network.
        X: The inputs, one example per row.
        y: The targets.
        loss_fn: The loss, ``loss_fn(model(X), y)``.
        max_measured: The most parameters nudged one by one; beyond it, a random sample.
        eps: The finite-difference step.
        repeats: How many times each timing is taken (the best is kept).
        seed: The seed choosing the sample.

    Returns:
        The timings, the counts and the largest difference (``print()`` it).
    """
    params = model.parameters()
    xt = X if isinstance(X, Tensor) else Tensor(np.asarray(X))
    yt = y if isinstance(y, Tensor) else Tensor(np.asarray(y))

    def cost() -> float:
        with no_grad():
            return float(loss_fn(model(xt), yt).item())

    def backprop() -> None:
        model.zero_grad()
        loss_fn(model(xt), yt).backward()

    forward_s = _best_time(cost, repeats)
    backprop_s = _best_time(backprop, repeats)
    grads = [p.grad.copy() for p in params]
    n_nodes = count_operations(loss_fn(model(xt), yt))
    model.zero_grad()

    entries = [(i, idx) for i, p in enumerate(params) for idx in np.ndindex(p.data.shape)]
    n_entries = len(entries)
    if n_entries > max_measured:
        pick = np.random.default_rng(seed).choice(n_entries, max_measured, replace=False)
        entries = [entries[k] for k in sorted(pick)]
    worst = 0.0
    t0 = time.perf_counter()
    J0 = cost()
    for i, idx in entries:
        data = params[i].data
        old = data[idx]
        data[idx] = old + eps
        k = (cost() - J0) / eps
        data[idx] = old
        worst = max(worst, abs(k - float(grads[i][idx])))
    elapsed = time.perf_counter() - t0
    finite_diff_s = elapsed * (n_entries + 1) / (len(entries) + 1)
    return CostReport(n_entries, n_nodes, forward_s, backprop_s, finite_diff_s, len(entries), worst)
