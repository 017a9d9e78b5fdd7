"""One time step of a recurrent network: PyTorch's ``RNNCell``, ``LSTMCell`` and ``GRUCell``,
the step functions, and :func:`unroll`, which loops them over a sequence: the graph of
per-step nodes that :func:`chainrule.explain` shows for a recurrent layer.

Each step takes ``xi``, the input's share of the gates ``x @ weight_ih.T + bias_ih`` (the
recurrent layers compute it for every time step in one product), and the previous state::

    RNN   h' = tanh(xi + h @ W_hh.T + b_hh)                  (or relu)
    LSTM  i, f, g, o = xi + h @ W_hh.T + b_hh, split in four (gate order i, f, g, o)
          c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')
    GRU   r, z, n_x = xi split in three;  r_h, z_h, n_h = h @ W_hh.T + b_hh split likewise
          r = sigmoid(r + r_h);  z = sigmoid(z + z_h);  n = tanh(n_x + r * n_h)
          h' = (1 - z) * n + z * h

Every step is composed of the engine's tensor operations, so backpropagation through the
unrolled steps needs nothing of its own.  The recurrent layers train with one node per
sequence instead (:mod:`chainrule.nn.recurrence`), which computes the same numbers.

>>> import numpy as np
>>> cell = LSTMCell(3, 2, rng=0)
>>> h, c = cell(np.ones((4, 3), np.float32))
>>> h.shape, c.shape
((4, 2), (4, 2))
"""

from __future__ import annotations

import math
from typing import Any

from ..engine import ConfigError, ShapeError, Tensor, ops
from ..engine.backend import dtype_name, namespace
from ..engine.devices import device_of
from ..engine.random import RNGLike, get_rng
from . import init as _init
from ._arrays import as_array_like
from ._checks import check_dtype, check_size
from .module import Module, Parameter, Shape, empty

__all__ = ["GATES", "GRUCell", "LSTMCell", "RNNCell", "as_input", "gru_step", "lstm_step",
           "rnn_step", "time_steps", "unroll", "zero_state"]

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
"""How many blocks of ``hidden_size`` rows each kind's weights stack (its gates)."""

NONLINEARITIES = {"tanh": ops.tanh, "relu": ops.relu}
"""The activations a plain RNN may use, by PyTorch's name."""


def _named(t: Tensor, letter: str, tag: str | None) -> Tensor:
    """``t`` named ``letter + tag`` (``h[3]``) when a tag is given, for :func:`explain`."""
    if tag is not None:
        t.name = letter + tag
    return t


def _chunk(t: Tensor, k: int, size: int) -> Tensor:
    """Block ``k`` of ``size`` columns of the last axis (one gate)."""
    return t[..., k * size:(k + 1) * size]


def rnn_step(xi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None,
             nonlinearity: str = "tanh", tag: str | None = None) -> Tensor:
    """``act(xi + h @ w_hh.T + b_hh)``; the new state is named ``h{tag}`` when ``tag`` is
    given (``[3]`` gives ``h[3]``)."""
    return _named(NONLINEARITIES[nonlinearity](xi + ops.linear(h, w_hh, b_hh)), "h", tag)


def lstm_step(xi: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor | None,
              tag: str | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (gates i, f, g, o, as PyTorch stacks them); returns (h', c')."""
    size = h.shape[-1]
    gates = xi + ops.linear(h, w_hh, b_hh)
    i = _named(ops.sigmoid(_chunk(gates, 0, size)), "i", tag)
    f = _named(ops.sigmoid(_chunk(gates, 1, size)), "f", tag)
    g = _named(ops.tanh(_chunk(gates, 2, size)), "g", tag)
    o = _named(ops.sigmoid(_chunk(gates, 3, size)), "o", tag)
    c_new = _named(f * c + i * g, "c", tag)
    h_new = _named(o * ops.tanh(c_new), "h", tag)
    return h_new, c_new


def gru_step(xi: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None,
             tag: str | None = None) -> Tensor:
    """One GRU step (gates r, z, n, as PyTorch stacks them; the reset gate scales
    ``h @ W_hn.T + b_hn``, PyTorch's and cuDNN's form)."""
    size = h.shape[-1]
    hh = ops.linear(h, w_hh, b_hh)
    r = _named(ops.sigmoid(_chunk(xi, 0, size) + _chunk(hh, 0, size)), "r", tag)
    z = _named(ops.sigmoid(_chunk(xi, 1, size) + _chunk(hh, 1, size)), "z", tag)
    n = _named(ops.tanh(_chunk(xi, 2, size) + r * _chunk(hh, 2, size)), "n", tag)
    return _named(n + z * (h - n), "h", tag)  # (1 - z) * n + z * h, one product fewer


def time_steps(xi: Tensor, block: int | None = None) -> list[Tensor]:
    """``[xi[0], ..., xi[T-1]]``, sliced from blocks of ``block`` steps (about sqrt(T) by
    default, none below 16 steps, so explain shows plain ``xi[t]`` on short sequences).

    The backward of each slice hands back a gradient as large as all of ``xi``, so T slices
    cost T**2 in backpropagation; slicing blocks first costs about 2 * T**1.5.  Measured on
    LSTM(64, 128) with 32 sequences, one thread: backward 1785 -> 212 ms at T=400, 74 -> 46
    ms at T=100, the same at T=25 (``tests/nn/test_recurrent.py`` checks both ways agree).

    >>> import numpy as np, chainrule as cr
    >>> [t.shape for t in time_steps(cr.tensor(np.zeros((3, 2, 4))))]
    [(2, 4), (2, 4), (2, 4)]
    """
    steps = xi.shape[0]
    size = block if block is not None else (math.isqrt(steps) if steps >= 16 else 1)
    if size <= 1:
        return [xi[t] for t in range(steps)]
    out: list[Tensor] = []
    for start in range(0, steps, size):
        part = xi[start:min(start + size, steps)]  # the standard refuses a stop past the end
        out.extend(part[k] for k in range(part.shape[0]))
    return out


def unroll(kind: str, xi: Tensor, state: list[Tensor], w_hh: Tensor, b_hh: Tensor | None,
           reverse: bool = False, label: str = "", nonlinearity: str = "tanh"
           ) -> list[list[Tensor]]:
    """One direction of a recurrent layer as a graph of per-step nodes: the step of ``kind``
    ('RNN', 'LSTM', 'GRU') over ``xi`` (T, N, G*hidden) from ``state`` ([h0], or [h0, c0]),
    from the last step back to the first when ``reverse``.  Returns each state's values in
    time order: ``[hs]``, or ``[hs, cs]`` for an LSTM.  The states are named ``h{label}[t]``
    (and ``c``, and the gates) for :func:`chainrule.explain`.

    >>> import numpy as np, chainrule as cr
    >>> xi = cr.tensor(np.ones((3, 1, 1))); w = cr.tensor([[0.5]])
    >>> [h.name for h in unroll("RNN", xi, [cr.tensor([[0.0]])], w, None)[0]]
    ['h[0]', 'h[1]', 'h[2]']
    """
    inputs = time_steps(xi)
    steps = len(inputs)
    seqs: list[list[Tensor]] = [[None] * steps for _ in state]  # type: ignore[list-item]
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        tag = f"{label}[{t}]"
        if kind == "LSTM":
            state = list(lstm_step(inputs[t], state[0], state[1], w_hh, b_hh, tag))
        elif kind == "GRU":
            state = [gru_step(inputs[t], state[0], w_hh, b_hh, tag)]
        else:
            state = [rnn_step(inputs[t], state[0], w_hh, b_hh, nonlinearity, tag)]
        for seq, s in zip(seqs, state):
            seq[t] = s
    return seqs


def as_input(x: Any, like: Tensor) -> Tensor:
    """``x`` as a tensor of the dtype of parameter ``like`` (converted on the way in, as
    Linear does); host data (NumPy arrays, lists) goes to ``like``'s device, as PyTorch
    users write ``x.to(device)``."""
    w = like.data
    if not isinstance(x, Tensor):
        x = Tensor(as_array_like(x, w), device=device_of(w))
    have, want = x.data.dtype, w.dtype
    # by name: dtypes of two libraries never compare equal (array-api-strict warns)
    if have is want or dtype_name(have) == dtype_name(want):
        return x
    return ops.astype(x, dtype_name(want))


def zero_state(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A state of zeros of ``shape`` in the dtype, library and device of parameter ``like``
    (the default initial state)."""
    w = like.data
    return Tensor(namespace(w).zeros(shape, dtype=w.dtype), device=device_of(w))


def init_weights(module: Module, gen: Any) -> None:
    """Every parameter uniform in +-1/sqrt(hidden_size), as PyTorch's recurrent layers."""
    bound = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        _init.uniform_(p, -bound, bound, gen)


def check_nonlinearity(nonlinearity: Any, layer: str) -> str:
    if nonlinearity not in NONLINEARITIES:
        raise ConfigError(f"{layer}: unknown nonlinearity {nonlinearity!r}; choose one of "
                          f"{', '.join(NONLINEARITIES)}")
    return nonlinearity


# -- the cells --------------------------------------------------------------------------------
class RNNCellBase(Module, saved=False):
    """What the three cells share: weight_ih (G*hidden, input), weight_hh (G*hidden, hidden),
    bias_ih and bias_hh (G*hidden,), and the checks of the input and state."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: Any = "float32", rng: RNGLike = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = check_size(input_size, name, "input_size")
        self.hidden_size = check_size(hidden_size, name, "hidden_size")
        self.bias = bool(bias)
        dt = check_dtype(dtype, name)
        rows = GATES[self.kind] * self.hidden_size
        self.weight_ih = Parameter(empty((rows, self.input_size), dt, name))
        self.weight_hh = Parameter(empty((rows, self.hidden_size), dt, name))
        self.bias_ih = Parameter(empty((rows,), dt, name)) if bias else None
        self.bias_hh = Parameter(empty((rows,), dt, name)) if bias else None
        init_weights(self, get_rng(rng))

    def _input(self, x: Any) -> Tensor:
        x = as_input(x, self.weight_ih)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{self._call()}: expected input of shape (N, {self.input_size}) "
                             f"or ({self.input_size},), got {x.shape}")
        return x

    def _state(self, h: Any, x: Tensor, what: str = "h") -> Tensor:
        shape = (*x.shape[:-1], self.hidden_size)
        if h is None:
            return zero_state(shape, self.weight_ih)
        h = as_input(h, self.weight_ih)
        if h.shape != shape:
            raise ShapeError(f"{self._call()}: expected the state {what} of shape {shape} for "
                             f"input of shape {x.shape}, got {h.shape}")
        return h

    def _xi(self, x: Tensor) -> Tensor:
        return ops.linear(x, self.weight_ih, self.bias_ih)

    def _call(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def get_config(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "bias": self.bias, "dtype": dtype_name(self.weight_ih.data.dtype)}

    @classmethod
    def from_config(cls, config: Any) -> Module:
        # The weights come from the file: draw from a fixed seed rather than move the shared
        # generator that manual_seed set.
        return cls(**{"rng": 0, **config})

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = (None, self.input_size) if input_shape is None else input_shape
        if len(shape) not in (1, 2) or shape[-1] not in (None, self.input_size):
            raise ShapeError(f"{self._call()}: expected input of shape (N, {self.input_size}), "
                             f"got {shape}")
        return (*shape[:-1], self.hidden_size)

    def extra_repr(self) -> str:
        dtype = dtype_name(self.weight_ih.data.dtype)
        return (f"{self.input_size}, {self.hidden_size}"
                + ("" if self.bias else ", bias=False")
                + ("" if dtype == "float32" else f", dtype={dtype}"))


class RNNCell(RNNCellBase):
    """``h' = tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)`` (``nonlinearity='relu'`` for
    ReLU), as ``torch.nn.RNNCell``: ``cell(x, hx=None)`` with x (N, input_size) or
    (input_size,) returns h' of shape (N, hidden_size) or (hidden_size,); the state hx
    defaults to zeros.

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.RNNCell(3, 5, rng=0)(np.zeros((2, 3), np.float32)).shape
    (2, 5)

    Args:
        input_size: Features of the input.
        hidden_size: Features of the hidden state.
        bias: Whether to learn the biases ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``'tanh'`` or ``'relu'``.
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw (every parameter uniform in
            +-1/sqrt(hidden_size), as PyTorch); by default the shared generator.

    Shapes: input ``(N, input_size)`` or ``(input_size,)``; state ``h`` of ``(N, hidden_size)``
    (zeros when omitted; no N for an unbatched input); the result likewise.

    Raises:
        ConfigError: A size is not a positive integer, ``nonlinearity`` is unknown, or
            ``dtype`` is not a floating-point type.
        ShapeError: When called, the input or state has the wrong shape.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", dtype: Any = "float32",
                 rng: RNGLike = None) -> None:
        act = check_nonlinearity(nonlinearity, "RNNCell")
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        self.nonlinearity = act

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        x = self._input(x)
        return rnn_step(self._xi(x), self._state(hx, x), self.weight_hh, self.bias_hh,
                        self.nonlinearity)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "nonlinearity": self.nonlinearity}

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.nonlinearity == "tanh" else text + ", nonlinearity='relu'"


class LSTMCell(RNNCellBase):
    """One LSTM step, as ``torch.nn.LSTMCell``: ``cell(x, hx=(h, c))`` returns (h', c');
    the gates are stacked in the weights' rows in PyTorch's order input, forget, cell
    (g), output.

    >>> import numpy as np, chainrule as cr
    >>> h, c = cr.nn.LSTMCell(3, 5, rng=0)(np.zeros((2, 3), np.float32))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))

    Args:
        input_size: Features of the input.
        hidden_size: Features of the hidden state.
        bias: Whether to learn the biases ``bias_ih`` and ``bias_hh``.
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw (every parameter uniform in
            +-1/sqrt(hidden_size), as PyTorch); by default the shared generator.

    Shapes: input ``(N, input_size)`` or ``(input_size,)``; state ``(h, c)``, each
    ``(N, hidden_size)`` (zeros when omitted; no N for an unbatched input); the result
    likewise.

    Raises:
        ConfigError: A size is not a positive integer, or ``dtype`` is not a
            floating-point type.
        ShapeError: When called, the input or state has the wrong shape.
    """

    kind = "LSTM"

    def forward(self, x: Any, hx: tuple[Any, Any] | None = None) -> tuple[Tensor, Tensor]:
        x = self._input(x)
        h, c = (None, None) if hx is None else hx
        return lstm_step(self._xi(x), self._state(h, x), self._state(c, x, "c"),
                         self.weight_hh, self.bias_hh)


class GRUCell(RNNCellBase):
    """One GRU step, as ``torch.nn.GRUCell``: ``cell(x, hx=None)`` returns h'; the gates are
    stacked in PyTorch's order reset, update, new.

    >>> import numpy as np, chainrule as cr
    >>> cr.nn.GRUCell(3, 5, rng=0)(np.zeros(3, np.float32)).shape
    (5,)

    Args:
        input_size: Features of the input.
        hidden_size: Features of the hidden state.
        bias: Whether to learn the biases ``bias_ih`` and ``bias_hh``.
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw (every parameter uniform in
            +-1/sqrt(hidden_size), as PyTorch); by default the shared generator.

    Shapes: input ``(N, input_size)`` or ``(input_size,)``; state ``h`` of ``(N, hidden_size)``
    (zeros when omitted; no N for an unbatched input); the result likewise.

    Raises:
        ConfigError: A size is not a positive integer, or ``dtype`` is not a
            floating-point type.
        ShapeError: When called, the input or state has the wrong shape.
    """

    kind = "GRU"

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        x = self._input(x)
        return gru_step(self._xi(x), self._state(hx, x), self.weight_hh, self.bias_hh)
