"""Recurrent layers over whole sequences: PyTorch's ``RNN``, ``LSTM`` and ``GRU``.

Each layer (and each direction, with ``bidirectional=True``) first computes the input's share
of every gate for all time steps in one product, ``x @ weight_ih.T + bias_ih`` of shape
(T, N, G*hidden), then runs the recurrence over the time steps as one graph node
(:mod:`chainrule.nn.recurrence`), whose backward rule is backpropagation through time.

Shapes follow PyTorch: input (T, N, input_size), or (N, T, input_size) with
``batch_first=True``, or (T, input_size) for one unbatched sequence; output (T, N,
D*hidden_size) with D = 2 for a bidirectional layer (forward and reverse states
concatenated); h_n of shape (num_layers*D, N, hidden_size) whatever ``batch_first`` says.
Parameters are named as in PyTorch (``weight_ih_l0``, ``bias_hh_l1_reverse``...), so a
PyTorch state dict converted to NumPy loads by name.

:func:`chainrule.explain` shows that node as the graph of per-step nodes it stands for
(:func:`chainrule.nn.cells.unroll`), with the states named ``h[t]`` (and ``c[t]``, and the gates
``i[t] f[t] g[t] o[t]`` or ``r[t] z[t] n[t]``) for the first layer's forward direction,
``h_l1[t]``, ``h_l0_reverse[t]``... for the others, with t the position in the sequence.

>>> import numpy as np
>>> lstm = LSTM(3, 5, num_layers=2, batch_first=True, rng=0)
>>> out, (h, c) = lstm(np.zeros((4, 7, 3), np.float32))
>>> out.shape, h.shape, c.shape
((4, 7, 5), (2, 4, 5), (2, 4, 5))
>>> [name for name, _ in lstm.named_parameters()][:4]
['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
"""

from __future__ import annotations

import warnings
from typing import Any

from ..engine import ShapeError, Tensor, ops
from ..engine.backend import dtype_name
from ..engine.random import RNGLike, get_rng
from ._arrays import as_array_like
from ._checks import check_dtype, check_number, check_size
from .cells import GATES, as_input, check_nonlinearity, init_weights, time_steps, zero_state
from .module import Module, Parameter, Shape, empty
from .recurrence import run

__all__ = ["GRU", "LSTM", "RNN", "RNNBase", "time_steps"]  # time_steps lives in nn.cells


class RNNBase(Module, saved=False):
    """What RNN, LSTM and GRU share: the parameters of every layer and direction, the checks
    of the input and initial state, the loop over layers, and the description saved."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, dtype: Any = "float32",
                 rng: RNGLike = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = check_size(input_size, name, "input_size")
        self.hidden_size = check_size(hidden_size, name, "hidden_size")
        self.num_layers = check_size(num_layers, name, "num_layers")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_number(dropout, name, "dropout", 0.0, 1.0, high_open=True)
        self.bidirectional = bool(bidirectional)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between layers only, so with "
                          "num_layers=1 it does nothing", UserWarning, stacklevel=3)
        dt = check_dtype(dtype, name)
        gen = get_rng(rng)
        self.rng = gen  # the dropout masks between layers
        rows = GATES[self.kind] * self.hidden_size
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            fan_in = self.input_size if layer == 0 else directions * self.hidden_size
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", Parameter(empty((rows, fan_in), dt, name)))
                setattr(self, f"weight_hh{suffix}",
                        Parameter(empty((rows, self.hidden_size), dt, name)))
                if self.bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(empty((rows,), dt, name)))
                    setattr(self, f"bias_hh{suffix}", Parameter(empty((rows,), dt, name)))
        init_weights(self, gen)

    def _suffixes(self, layer: int) -> list[str]:
        """The parameter-name endings of a layer's directions: ``_l0`` and ``_l0_reverse``."""
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def _weights(self, suffix: str) -> tuple[Any, ...]:
        get = self.__dict__.get
        return (get(f"weight_ih{suffix}"), get(f"weight_hh{suffix}"), get(f"bias_ih{suffix}"),
                get(f"bias_hh{suffix}"))

    @property
    def _dtype(self) -> str:
        return dtype_name(self.weight_ih_l0.data.dtype)

    # -- checks ---------------------------------------------------------------------------------
    def _input(self, x: Any) -> tuple[Tensor, bool]:
        """The input as (T, N, input_size) and whether it came unbatched."""
        x = as_input(x, self.weight_ih_l0)
        layout = "(N, T, input_size)" if self.batch_first else "(T, N, input_size)"
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ShapeError(f"{self._call()}: expected input of shape {layout} or (T, "
                             f"input_size) with input_size={self.input_size}, got {x.shape}")
        if x.shape[-3 if x.ndim == 3 else 0] == 0:
            raise ShapeError(f"{self._call()}: the sequence is empty (input shape {x.shape})")
        if x.ndim == 2:
            return ops.reshape(x, (x.shape[0], 1, x.shape[1])), True
        return (ops.transpose(x, (1, 0, 2)) if self.batch_first else x), False

    def _state(self, h: Any, batch: int, unbatched: bool, what: str) -> Tensor:
        """The initial state ``what`` (h0 or c0) as (num_layers*D, N, hidden_size)."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        if h is None:
            return zero_state((layers, batch, self.hidden_size), self.weight_ih_l0)
        h = as_input(h, self.weight_ih_l0)
        want = (layers, self.hidden_size) if unbatched else (layers, batch, self.hidden_size)
        if h.shape != want:
            raise ShapeError(f"{self._call()}: expected {what} of shape {want} (num_layers"
                             f"{' * 2 directions' if self.bidirectional else ''}, "
                             f"{'' if unbatched else 'batch, '}hidden_size), got {h.shape}")
        return ops.reshape(h, (layers, 1, self.hidden_size)) if unbatched else h

    # -- the loop over layers ---------------------------------------------------------------------
    def _run(self, x: Any, states: tuple[Any, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Every layer and direction over the sequence; returns the output and the final
        states (h_n, and c_n for an LSTM), shaped as PyTorch gives them."""
        seq, unbatched = self._input(x)
        steps, batch = seq.shape[0], seq.shape[1]
        initial = [self._state(s, batch, unbatched, name)
                   for s, name in zip(states, ("h0", "c0"))]
        finals: list[list[Tensor]] = [[] for _ in initial]
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                # drawn on the host (one seed, one mask on every device), then moved once
                keep = self.rng.random(seq.shape) >= self.dropout
                seq = seq * as_array_like(keep.astype(self._dtype) / (1 - self.dropout),
                                          seq.data)
            outputs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                row = layer * (2 if self.bidirectional else 1) + d
                start = [s[row] for s in initial]
                hs, last = self._direction(seq, suffix, start, reverse=d == 1)
                outputs.append(hs)
                for k, s in enumerate(last):
                    finals[k].append(s)
            seq = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        last_states = tuple(ops.stack(f, axis=0) for f in finals)
        if unbatched:
            return (ops.reshape(seq, (steps, seq.shape[-1])),
                    tuple(ops.reshape(s, (s.shape[0], s.shape[-1])) for s in last_states))
        if self.batch_first:
            seq = ops.transpose(seq, (1, 0, 2))
        return seq, last_states

    def _direction(self, seq: Tensor, suffix: str, state: list[Tensor], reverse: bool
                   ) -> tuple[Tensor, list[Tensor]]:
        """One direction of one layer: the hidden states (T, N, hidden) in time order, and
        the final state(s)."""
        w_ih, w_hh, b_ih, b_hh = self._weights(suffix)
        label = "" if suffix == "_l0" else suffix  # h[t] for the first layer, h_l1[t]...
        xi = ops.linear(seq, w_ih, b_ih)  # every time step's input share in one product
        xi.name = f"xi{label}"
        return run(self.kind, xi, state, w_hh, b_hh, reverse, label, self._nonlinearity())

    def _nonlinearity(self) -> str:
        return "tanh"

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        """``(output, h_n)`` for the sequence ``x`` from the initial state ``hx`` (h0, zeros
        by default), as PyTorch's ``forward(input, hx)``."""
        out, (h_n,) = self._run(x, (hx,))
        return out, h_n

    # -- description ----------------------------------------------------------------------------
    def _call(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def get_config(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "bias": self.bias,
                "batch_first": self.batch_first, "dropout": self.dropout,
                "bidirectional": self.bidirectional, "dtype": self._dtype}

    @classmethod
    def from_config(cls, config: Any) -> Module:
        # The weights come from the file: draw from a fixed seed rather than move the shared
        # generator that manual_seed set.
        return cls(**{"rng": 0, **config})

    def output_shape(self, input_shape: Shape) -> Shape:
        """The shape of the output sequence (the first of the two results)."""
        shape = (None, None, self.input_size) if input_shape is None else input_shape
        if len(shape) not in (2, 3) or shape[-1] not in (None, self.input_size):
            raise ShapeError(f"{self._call()}: expected input of shape (T, N, "
                             f"{self.input_size}), got {shape}")
        return (*shape[:-1], (2 if self.bidirectional else 1) * self.hidden_size)

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if self.num_layers != 1:
            parts.append(f"num_layers={self.num_layers}")
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            parts.append(f"nonlinearity={self.nonlinearity!r}")
        parts += [f"{k}={getattr(self, k)}" for k, default in
                  (("bias", True), ("batch_first", False), ("dropout", 0.0),
                   ("bidirectional", False)) if getattr(self, k) != default]
        if self._dtype != "float32":
            parts.append(f"dtype={self._dtype}")
        return ", ".join(parts)


class RNN(RNNBase):
    """An Elman network, as ``torch.nn.RNN``: ``h[t] = tanh(x[t] @ W_ih.T + b_ih + h[t-1] @
    W_hh.T + b_hh)`` (``nonlinearity='relu'`` for ReLU), stacked ``num_layers`` deep.
    ``rnn(x, hx=None)`` (hx: h0) returns ``(output, h_n)``; see the module's docstring for
    shapes.

    >>> import numpy as np, chainrule as cr
    >>> out, h_n = cr.nn.RNN(3, 5, rng=0)(np.zeros((7, 2, 3), np.float32))
    >>> out.shape, h_n.shape
    ((7, 2, 5), (1, 2, 5))

    Args:
        input_size: Features of each time step's input.
        hidden_size: Features of the hidden state (and of each direction's output).
        num_layers: Recurrent layers stacked, each reading the previous one's outputs.
        nonlinearity: ``'tanh'`` or ``'relu'``.
        bias: Whether to learn the biases ``bias_ih``/``bias_hh`` of every layer.
        batch_first: Whether input and output are (N, T, features) rather than
            (T, N, features); the states are (layers, N, hidden) either way.
        dropout: Probability of zeroing each output of every layer but the last while
            training (a warning when ``num_layers`` is 1, where it does nothing).
        bidirectional: Whether each layer also runs backwards in time, its outputs
            concatenated to the forward ones (D = 2 directions).
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw (every parameter uniform in
            +-1/sqrt(hidden_size), as PyTorch) and the dropout masks.

    Shapes: input ``(T, N, input_size)`` (``(N, T, input_size)`` with ``batch_first``) or
    unbatched ``(T, input_size)``; initial state ``h0`` ``(num_layers * D, N, hidden_size)``
    (zeros when omitted); output ``(T, N, D * hidden_size)`` (batch first likewise) and
    final state ``h_n`` ``(num_layers * D, N, hidden_size)``; unbatched drops the N.

    Raises:
        ConfigError: A size is not a positive integer, ``dropout`` is not in [0, 1),
            ``dtype`` is not a floating-point type, or ``nonlinearity`` is unknown.
        ShapeError: When called, the input or initial state has the wrong shape, or the
            sequence is empty.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, dtype: Any = "float32",
                 rng: RNGLike = None) -> None:
        act = check_nonlinearity(nonlinearity, "RNN")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype, rng)
        self.nonlinearity = act

    def _nonlinearity(self) -> str:
        return self.nonlinearity

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "nonlinearity": self.nonlinearity}


class LSTM(RNNBase):
    """A long short-term memory network, as ``torch.nn.LSTM`` (gates i, f, g, o stacked in
    that order in the weights' rows): ``lstm(x, hx=(h0, c0))`` (zeros by default) returns
    ``(output, (h_n, c_n))``; see the module's docstring for shapes.

    >>> import numpy as np, chainrule as cr
    >>> out, (h_n, c_n) = cr.nn.LSTM(3, 5, batch_first=True, rng=0)(np.zeros((2, 7, 3)))
    >>> out.shape, h_n.shape, c_n.shape
    ((2, 7, 5), (1, 2, 5), (1, 2, 5))

    Args:
        input_size: Features of each time step's input.
        hidden_size: Features of the hidden state (and of each direction's output).
        num_layers: Recurrent layers stacked, each reading the previous one's outputs.
        bias: Whether to learn the biases ``bias_ih``/``bias_hh`` of every layer.
        batch_first: Whether input and output are (N, T, features) rather than
            (T, N, features); the states are (layers, N, hidden) either way.
        dropout: Probability of zeroing each output of every layer but the last while
            training (a warning when ``num_layers`` is 1, where it does nothing).
        bidirectional: Whether each layer also runs backwards in time, its outputs
            concatenated to the forward ones (D = 2 directions).
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw (every parameter uniform in
            +-1/sqrt(hidden_size), as PyTorch) and the dropout masks.

    Shapes: input ``(T, N, input_size)`` (``(N, T, input_size)`` with ``batch_first``) or
    unbatched ``(T, input_size)``; initial state ``(h0, c0)``, each
    ``(num_layers * D, N, hidden_size)`` (zeros when omitted); output
    ``(T, N, D * hidden_size)`` (batch first likewise) and final state ``(h_n, c_n)``, each
    ``(num_layers * D, N, hidden_size)``; unbatched drops the N.

    Raises:
        ConfigError: A size is not a positive integer, ``dropout`` is not in [0, 1), or
            ``dtype`` is not a floating-point type.
        ShapeError: When called, the input or initial state has the wrong shape, or the
            sequence is empty.
    """

    kind = "LSTM"


    def forward(self, x: Any, hx: tuple[Any, Any] | None = None  # type: ignore[override]
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h0, c0 = (None, None) if hx is None else hx
        out, (h_n, c_n) = self._run(x, (h0, c0))
        return out, (h_n, c_n)


class GRU(RNNBase):
    """A gated recurrent unit network, as ``torch.nn.GRU`` (gates r, z, n stacked in that
    order; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``): ``gru(x, hx=None)`` (hx: h0)
    returns ``(output, h_n)``; see the module's docstring for shapes.

    >>> import numpy as np, chainrule as cr
    >>> out, h_n = cr.nn.GRU(3, 5, num_layers=2, bidirectional=True, rng=0)(np.zeros((7, 3)))
    >>> out.shape, h_n.shape
    ((7, 10), (4, 5))

    Args:
        input_size: Features of each time step's input.
        hidden_size: Features of the hidden state (and of each direction's output).
        num_layers: Recurrent layers stacked, each reading the previous one's outputs.
        bias: Whether to learn the biases ``bias_ih``/``bias_hh`` of every layer.
        batch_first: Whether input and output are (N, T, features) rather than
            (T, N, features); the states are (layers, N, hidden) either way.
        dropout: Probability of zeroing each output of every layer but the last while
            training (a warning when ``num_layers`` is 1, where it does nothing).
        bidirectional: Whether each layer also runs backwards in time, its outputs
            concatenated to the forward ones (D = 2 directions).
        dtype: Floating-point type of the parameters; inputs are converted to it.
        rng: Seed or generator for the initial draw (every parameter uniform in
            +-1/sqrt(hidden_size), as PyTorch) and the dropout masks.

    Shapes: input ``(T, N, input_size)`` (``(N, T, input_size)`` with ``batch_first``) or
    unbatched ``(T, input_size)``; initial state ``h0`` ``(num_layers * D, N, hidden_size)``
    (zeros when omitted); output ``(T, N, D * hidden_size)`` (batch first likewise) and
    final state ``h_n`` ``(num_layers * D, N, hidden_size)``; unbatched drops the N.

    Raises:
        ConfigError: A size is not a positive integer, ``dropout`` is not in [0, 1), or
            ``dtype`` is not a floating-point type.
        ShapeError: When called, the input or initial state has the wrong shape, or the
            sequence is empty.
    """

    kind = "GRU"

