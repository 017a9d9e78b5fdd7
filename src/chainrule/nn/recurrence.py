"""One direction of a recurrent layer over a whole sequence as ONE graph node.

The recurrent layers (:mod:`chainrule.nn.recurrent`) compute the input's share of every gate
for all time steps in one product, ``xi = x @ W_ih.T + b_ih`` of shape (T, N, G*hidden), then
hand ``xi``, the initial state, ``W_hh`` and ``b_hh`` to :func:`run`.  Its primitive's forward
runs the recurrence in the array library and keeps each step's gates; its backward is
backpropagation through time in one rule: the gradient goes back over the steps, then the
weight gradient is one product over all T*N rows, ``dW_hh = dgates.T @ h_prev``.

A graph of per-step nodes computes the same (:func:`chainrule.nn.cells.unroll`), and that is
what :func:`chainrule.explain` shows: each primitive here carries ``expand``, a function that
builds the per-step graph (states named ``h[t]``, ``c[t]``, gates ``r[t]``...) from the node's
own inputs, and explain shows that graph in the node's place.  Training never builds it.

The rules use array-API functions only, without ``out=`` or item assignment, so for a
gradient of a gradient they run again on tensors, with the saved gates recomputed by the same
forward on tensors (``saved=``).

>>> import numpy as np, chainrule as cr
>>> xi = cr.tensor(np.ones((3, 1, 1)), requires_grad=True)
>>> hs, (h_n,) = run("RNN", xi, [cr.tensor([[0.0]])], cr.tensor([[0.5]]), None)
>>> hs.op, hs.shape, h_n.shape
('rnn_sequence', (3, 1, 1), (1, 1))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine import Primitive, Tensor, ops
from ..engine.backend import namespace, ndarray
from .cells import unroll

__all__ = ["Recurrence", "SequencePrimitive", "run"]


@dataclass(frozen=True)
class Recurrence:
    """What a whole-sequence node is besides its inputs: the kind of layer ('RNN', 'LSTM',
    'GRU'), the RNN's nonlinearity, the direction, and the label its states are shown with
    (``""`` gives ``h[t]``, ``"_l1"`` gives ``h_l1[t]``)."""

    kind: str
    nonlinearity: str = "tanh"
    reverse: bool = False
    label: str = ""

    def order(self, steps: int) -> range:
        """The time steps in the order the forward pass visits them."""
        return range(steps - 1, -1, -1) if self.reverse else range(steps)

    def before(self, t: int, steps: int) -> int | None:
        """The step whose state step ``t`` starts from (None: the initial state)."""
        k = t + 1 if self.reverse else t - 1
        return k if 0 <= k < steps else None


class SequencePrimitive(Primitive):
    """A primitive with ``expand(out)``: the same value as node ``out``, computed from its
    inputs by a graph of finer nodes (what an explanation shows in its place)."""

    __slots__ = ("expand",)

    def __init__(self, name: str, backward: Any, forward: Any) -> None:
        super().__init__(name, backward, saved=lambda out: _saved_again(out, forward))
        self.expand = _unrolled


def _functions(a: Any) -> tuple[Any, Any, Any]:
    """The namespace, sigmoid and tanh for arrays, or the recorded ones for tensors."""
    if isinstance(a, Tensor):
        return a.__array_namespace__(), ops.sigmoid, ops.tanh
    xp = namespace(a)
    return xp, ops.stable_sigmoid, xp.tanh


def _hidden(h: Any, w_t: Any, b: Any) -> Any:
    hh = h @ w_t
    return hh if b is None else hh + b


# -- the forward passes (arrays, or tensors for a gradient of a gradient) ---------------------
def _rnn_forward(spec: Recurrence, xi: Any, states: list[Any], w_hh: Any, b_hh: Any
                 ) -> tuple[Any, tuple]:
    xp, _, tanh = _functions(xi)
    act = tanh if spec.nonlinearity == "tanh" else (
        ops.relu if isinstance(xi, Tensor) else lambda a: xp.maximum(a, 0))
    w_t = xp.matrix_transpose(w_hh)
    h = states[0]
    hs: list[Any] = [None] * xi.shape[0]
    for t in spec.order(xi.shape[0]):
        h = hs[t] = act(xi[t, ...] + _hidden(h, w_t, b_hh))
    return xp.stack(hs), ()


def _gru_forward(spec: Recurrence, xi: Any, states: list[Any], w_hh: Any, b_hh: Any
                 ) -> tuple[Any, tuple]:
    xp, sigmoid, tanh = _functions(xi)
    w_t = xp.matrix_transpose(w_hh)
    h = states[0]
    size = h.shape[-1]
    steps = xi.shape[0]
    hs, rz, news, hns = ([None] * steps for _ in range(4))
    for t in spec.order(steps):
        hh = _hidden(h, w_t, b_hh)
        a = xi[t, ...]
        gates = rz[t] = sigmoid(a[..., :2 * size] + hh[..., :2 * size])  # r and z at once
        hn = hns[t] = hh[..., 2 * size:]
        n = news[t] = tanh(a[..., 2 * size:] + gates[..., :size] * hn)
        h = hs[t] = n + gates[..., size:] * (h - n)
    return xp.stack(hs), (rz, news, hns)


def _lstm_forward(spec: Recurrence, xi: Any, states: list[Any], w_hh: Any, b_hh: Any
                  ) -> tuple[Any, tuple]:
    xp, sigmoid, tanh = _functions(xi)
    w_t = xp.matrix_transpose(w_hh)
    h, c = states
    size = h.shape[-1]
    steps = xi.shape[0]
    hs, cs, sig, cand, tcs = ([None] * steps for _ in range(5))
    for t in spec.order(steps):
        a = xi[t, ...] + _hidden(h, w_t, b_hh)
        s = sig[t] = sigmoid(a)  # i, f and o (the g block's sigmoid goes unused)
        g = cand[t] = tanh(a[..., 2 * size:3 * size])
        c = cs[t] = s[..., size:2 * size] * c + s[..., :size] * g
        tc = tcs[t] = tanh(c)
        h = hs[t] = s[..., 3 * size:] * tc
    return xp.stack([xp.stack(hs), xp.stack(cs)]), (sig, cand, tcs)


# -- backpropagation through time -------------------------------------------------------------
def _state_before(spec: Recurrence, t: int, seq: Any, first: Any) -> Any:
    """The state step ``t`` started from: ``first`` (the initial state) or one of ``seq``."""
    k = spec.before(t, seq.shape[0])
    return first if k is None else seq[k, ...]


def _bptt(out: Tensor, g: ndarray, spec: Recurrence, step: Any, count: int) -> tuple:
    """The shared walk back over the time steps: ``step(t, h_prev, carried) -> (dgates of
    xi, dgates of W_hh h, carried)``, with ``carried`` the gradients of the ``count`` states.

    Everything is computed per step, on (N, G*hidden) arrays: arrays as large as the whole
    sequence (T times larger) each cost a fresh allocation from the system and its page
    faults, which took longer than the arithmetic (GRU(16, 64), 32 x 12 steps: 1.35 ms
    against 0.6 ms for the backward pass)."""
    xi, *rest = out.inputs
    w_hh, b_hh = rest[count], (rest[count + 1] if len(rest) > count + 1 else None)
    want_w = w_hh.requires_grad
    want_b = b_hh is not None and b_hh.requires_grad
    xp = namespace(g)
    hs, h0 = (out.data if count == 1 else out.data[0, ...]), rest[0].data
    steps = xi.shape[0]
    dxi: list[Any] = [None] * steps
    carried: list[Any] = [None] * count
    dw = db = None
    w = w_hh.data
    for t in reversed(spec.order(steps)):
        prev = _state_before(spec, t, hs, h0)
        dxi[t], dhh, carried = step(t, prev, carried, w)
        if want_w:
            dw = _add(dw, xp.matrix_transpose(dhh) @ prev)
        if want_b:
            db = _add(db, xp.sum(dhh, axis=0))
    return (xp.stack(dxi), *carried, dw, db)[:len(rest) + 1]


def _add(a: Any, b: Any) -> Any:
    return b if a is None else a + b


def _rnn_backward(out: Tensor, g: ndarray) -> tuple:
    spec = out.saved[-1]
    relu = spec.nonlinearity == "relu"
    hs = out.data
    xp = namespace(g)

    def step(t: int, prev: Any, carried: list[Any], w: Any) -> tuple:
        dh = _add(carried[0], g[t, ...])
        h = hs[t, ...]
        da = dh * xp.astype(h > 0, g.dtype) if relu else dh * (1 - h * h)
        return da, da, [da @ w]

    return _bptt(out, g, spec, step, 1)


def _gru_backward(out: Tensor, g: ndarray) -> tuple:
    rz, news, hns, spec = out.saved
    xp = namespace(g)
    size = g.shape[-1]

    def step(t: int, prev: Any, carried: list[Any], w: Any) -> tuple:
        dh = _add(carried[0], g[t, ...])
        r, z = rz[t][..., :size], rz[t][..., size:]
        n = news[t]
        dn = dh * (1 - z) * (1 - n * n)
        dz = dh * (prev - n) * z * (1 - z)
        dr = dn * hns[t] * r * (1 - r)
        dhh = xp.concat([dr, dz, dn * r], axis=-1)  # the reset gate scales W_hn h + b_hn
        return xp.concat([dr, dz, dn], axis=-1), dhh, [dh * z + dhh @ w]

    return _bptt(out, g, spec, step, 1)


def _lstm_backward(out: Tensor, g: ndarray) -> tuple:
    sig, cand, tcs, spec = out.saved
    xp = namespace(g)
    size = g.shape[-1]
    cs, c0 = out.data[1, ...], out.inputs[2].data

    def step(t: int, prev: Any, carried: list[Any], w: Any) -> tuple:
        dh = _add(carried[0], g[0, t, ...])
        s, cell, tc = sig[t], cand[t], tcs[t]
        i, f, o = s[..., :size], s[..., size:2 * size], s[..., 3 * size:]
        dc = _add(carried[1], g[1, t, ...]) + dh * o * (1 - tc * tc)
        da = xp.concat([dc * cell * i * (1 - i),
                        dc * _state_before(spec, t, cs, c0) * f * (1 - f),
                        dc * i * (1 - cell * cell), dh * tc * o * (1 - o)], axis=-1)
        return da, da, [da @ w, dc * f]

    return _bptt(out, g, spec, step, 2)


# -- the primitives -----------------------------------------------------------------------------
FORWARD = {"RNN": _rnn_forward, "LSTM": _lstm_forward, "GRU": _gru_forward}
"""Each kind's forward pass: ``(spec, xi, states, w_hh, b_hh) -> (output, saved gates)``."""


def _saved_again(out: Tensor, forward: Any) -> tuple:
    """The saved gates recomputed from the node's input tensors with recorded operations (a
    gradient of a gradient differentiates through them)."""
    spec = out.saved[-1]
    if spec.kind == "RNN":  # its rule reads only the output
        return (spec,)
    xi, *rest = out.inputs
    count = 2 if spec.kind == "LSTM" else 1
    b_hh = rest[count + 1] if len(rest) > count + 1 else None
    return (*forward(spec, xi, rest[:count], rest[count], b_hh)[1], spec)


def _unrolled(out: Tensor) -> Tensor:
    """Node ``out`` computed again as a graph of per-step nodes (:func:`cells.unroll`)."""
    spec = out.saved[-1]
    xi, *rest = out.inputs
    count = 2 if spec.kind == "LSTM" else 1
    b_hh = rest[count + 1] if len(rest) > count + 1 else None
    seqs = unroll(spec.kind, xi, list(rest[:count]), rest[count], b_hh, spec.reverse,
                  spec.label, spec.nonlinearity)
    stacked = [ops.stack(s, axis=0) for s in seqs]
    return stacked[0] if count == 1 else ops.stack(stacked, axis=0)


PRIMITIVES = {kind: SequencePrimitive(f"{kind.lower()}_sequence", backward, FORWARD[kind])
              for kind, backward in (("RNN", _rnn_backward), ("LSTM", _lstm_backward),
                                     ("GRU", _gru_backward))}
"""The whole-sequence primitive of each kind of recurrent layer."""


def run(kind: str, xi: Tensor, state: list[Tensor], w_hh: Tensor, b_hh: Tensor | None,
        reverse: bool = False, label: str = "", nonlinearity: str = "tanh"
        ) -> tuple[Tensor, list[Tensor]]:
    """One direction of a recurrent layer of ``kind`` over ``xi`` (T, N, G*hidden) from
    ``state`` ([h0], or [h0, c0] for an LSTM), as one node: returns the hidden states
    (T, N, hidden) in time order and the final state(s), as :func:`cells.unroll` would."""
    spec = Recurrence(kind, nonlinearity, reverse, label)
    weights = [w_hh] if b_hh is None else [w_hh, b_hh]
    value, saved = FORWARD[kind](spec, xi.data, [s.data for s in state], w_hh.data,
                                 None if b_hh is None else b_hh.data)
    out = PRIMITIVES[kind](value, (xi, *state, *weights), (*saved, spec))
    last = 0 if reverse else xi.shape[0] - 1
    if kind == "LSTM":
        return out[0, ...], [out[0, last, ...], out[1, last, ...]]
    return out, [out[last, ...]]
