"""Check the engine's gradients against central finite differences.

The course's definition of a derivative: nudge w by epsilon and J changes by about k * epsilon.
:func:`gradcheck` does exactly that for every entry of every input (or, with ``fast=True``,
along a few random directions: one pair of evaluations per direction instead of one per entry)
and compares k with what backpropagation computed.  :func:`gradgradcheck` does the same one
level up: it nudges the inputs and watches the *gradient* change, and compares that with what
backpropagating through the gradient (``create_graph=True``) computed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import GradcheckError, Tensor, grad, no_grad
from ..engine.random import RNGLike, get_rng
from ..errors import ConfigError

__all__ = ["gradcheck", "gradgradcheck"]


def _scalar_of(out: Any, weights: np.ndarray | None) -> Tensor:
    """Reduce a non-scalar output to a scalar with fixed random weights (checks J^T v)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: func must return a Tensor, got {type(out).__name__}")
    if out.size == 1:
        return out.reshape(())
    return (out * weights).sum()


def _float64_copies(inputs: Sequence[Any], who: str) -> list[np.ndarray]:
    """Each input as a float64 array (a float32 one copied, with a warning)."""
    arrays = []
    for i, x in enumerate(inputs):
        a = np.asarray(x.data if isinstance(x, Tensor) else x)
        if a.dtype == np.float32:
            warnings.warn(f"{who}: input {i} is float32; checking a float64 copy "
                          "(finite differences are meaningless in float32)", stacklevel=3)
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{who}: input {i} has dtype {a.dtype}, need numbers")
        arrays.append(np.array(a, dtype=np.float64))
    return arrays


def _checked_args(func: Any, inputs: Any, who: str) -> Sequence[Any]:
    if not callable(func):
        raise ConfigError(f"{who}: func must be a function of the inputs returning a "
                          f"tensor, got {type(func).__name__}")
    if isinstance(inputs, (Tensor, np.ndarray)):
        return (inputs,)
    return inputs


def _compare(who: str, inputs: Sequence[Any], arrays: list[np.ndarray],
             analytic: list[np.ndarray], f: Callable[[list[np.ndarray]], float],
             eps: float, atol: float, rtol: float, fast: bool, n_directions: int,
             gen: np.random.Generator, by: str, numeric_of: str) -> bool:
    """Compare ``analytic``, the derivative of the scalar ``f`` at ``arrays`` computed ``by``
    the engine, with central finite differences ``numeric_of`` what ``f`` reduces: entry by
    entry, or along random directions if ``fast``."""

    def numeric_along(direction: list[np.ndarray]) -> float:
        plus = f([a + eps * d for a, d in zip(arrays, direction)])
        minus = f([a - eps * d for a, d in zip(arrays, direction)])
        return (plus - minus) / (2 * eps)

    if fast:
        for k in range(n_directions):
            direction = [gen.standard_normal(a.shape) for a in arrays]
            num = numeric_along(direction)
            ana = float(sum(np.sum(g * d) for g, d in zip(analytic, direction)))
            if not abs(ana - num) <= atol + rtol * abs(num):
                raise GradcheckError(
                    f"{who} (fast): along random direction {k} the directional derivative by "
                    f"{by} is {ana!r} but finite differences{numeric_of} give {num!r}"
                )
        return True

    worst: tuple[float, int, tuple, float, float] | None = None
    for i, a in enumerate(arrays):
        for idx in np.ndindex(a.shape):
            direction = [np.zeros_like(b) for b in arrays]
            direction[i][idx] = 1.0
            num = numeric_along(direction)
            ana = float(analytic[i][idx])
            excess = abs(ana - num) - (atol + rtol * abs(num))
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, i, idx, ana, num)
    if worst is not None:
        _, i, idx, ana, num = worst
        name = getattr(inputs[i], "name", None)
        label = f"input {i}" + (f" ({name})" if name else "")
        raise GradcheckError(
            f"{who}: {label} at index {idx}: {by} gives {ana!r}, finite differences"
            f"{numeric_of} give {num!r} (atol={atol}, rtol={rtol})"
        )
    return True


def gradcheck(
    func: Callable[..., Tensor],
    inputs: Sequence[Any] | Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    fast: bool = False,
    n_directions: int = 3,
    rng: RNGLike = 0,
) -> bool:
    """Compare ``func``'s backpropagated gradients with central finite differences, in float64.

    ``inputs`` are tensors or arrays (float32 ones are copied to float64, with a warning).
    A non-scalar output is reduced to ``sum(out * v)`` for a fixed random ``v``.  Returns True
    when every entry satisfies ``|analytic - numeric| <= atol + rtol * |numeric|``; otherwise
    raises :class:`GradcheckError` naming the input, the index and both values of the worst
    mismatch.  ``fast=True`` checks ``n_directions`` random directions instead of every entry.

    >>> import numpy as np, chainrule as cr
    >>> A, B = np.random.default_rng(0).normal(size=(2, 3, 3))
    >>> cr.gradcheck(lambda a, b: (a @ b).tanh().sum(), (A, B))
    True

    Args:
        func: A function of tensors returning a tensor (reduced to one number if it is not one).
        inputs: The point to check at: one array or tensor, or a sequence of them.
        eps: The finite-difference step.
        atol: The absolute tolerance.
        rtol: The relative tolerance.
        fast: Check ``n_directions`` random directions instead of every entry.
        n_directions: How many directions ``fast=True`` checks.
        rng: A seed or ``numpy.random.Generator`` for the random directions and weights.

    Returns:
        True when every entry agrees.

    Raises:
        GradcheckError: The worst mismatch: the input, the index and both values.
    """
    inputs = _checked_args(func, inputs, "gradcheck")
    arrays = _float64_copies(inputs, "gradcheck")
    gen = get_rng(rng)

    # One backward pass gives the analytic gradient of every input.
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = func(*leaves)
    weights = None if out.size == 1 else gen.standard_normal(out.shape)
    _scalar_of(out, weights).backward()
    analytic = [np.zeros_like(a) if t.grad is None else t.grad for a, t in zip(arrays, leaves)]

    def f(xs: list[np.ndarray]) -> float:
        with no_grad():
            return float(_scalar_of(func(*[Tensor(x) for x in xs]), weights).item())

    return _compare("gradcheck", inputs, arrays, analytic, f, eps, atol, rtol, fast,
                    n_directions, gen, "backpropagation", "")


def gradgradcheck(
    func: Callable[..., Tensor],
    inputs: Sequence[Any] | Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    fast: bool = False,
    n_directions: int = 3,
    rng: RNGLike = 0,
) -> bool:
    """Compare ``func``'s second derivatives, backpropagated through its gradient
    (``create_graph=True``), with central finite differences of that gradient, in float64.

    As PyTorch's ``gradgradcheck``: the output is reduced to ``sum(out * v)`` and its gradient
    ``g`` to ``sum(g * u)``, for fixed random ``v`` and ``u``; the derivative of the latter
    with respect to every input entry is the Hessian (times ``u``) and is checked against
    ``(g(x + eps) - g(x - eps)) . u / (2 eps)``.  Arguments, tolerances and the error naming
    the worst entry are :func:`gradcheck`'s.

    >>> import numpy as np, chainrule as cr
    >>> A, B = np.random.default_rng(0).normal(size=(2, 3, 3))
    >>> cr.gradgradcheck(lambda a, b: (a @ b).tanh().sum(), (A, B))
    True

    Args:
        func: A function of tensors returning a tensor.
        inputs: The point to check at: one array or tensor, or a sequence of them.
        eps: The finite-difference step.
        atol: The absolute tolerance.
        rtol: The relative tolerance.
        fast: Check ``n_directions`` random directions instead of every entry.
        n_directions: How many directions ``fast=True`` checks.
        rng: A seed or ``numpy.random.Generator`` for the random directions and weights.

    Returns:
        True when every second derivative agrees.

    Raises:
        GradcheckError: The worst mismatch, named as :func:`gradcheck` names it.
    """
    inputs = _checked_args(func, inputs, "gradgradcheck")
    arrays = _float64_copies(inputs, "gradgradcheck")
    gen = get_rng(rng)
    leaves = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = func(*leaves)
    weights = None if out.size == 1 else gen.standard_normal(out.shape)
    u = [gen.standard_normal(a.shape) for a in arrays]

    def gradient(xs: list[Tensor], out: Tensor, create_graph: bool) -> tuple:
        scalar = _scalar_of(out, weights)
        if not scalar.requires_grad:  # a constant function
            return (None,) * len(xs)
        return grad(scalar, xs, create_graph=create_graph, allow_unused=True)

    # Backpropagating through the gradient gives d(sum(g * u))/d(inputs): the Hessian times u.
    terms = [(g * w).sum() for g, w in zip(gradient(leaves, out, create_graph=True), u)
             if g is not None and g.requires_grad]  # a gradient that is constant has none
    analytic = [np.zeros_like(a) for a in arrays]
    if terms:
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        seconds = grad(total, leaves, allow_unused=True)
        analytic = [np.zeros_like(a) if s is None else np.asarray(s.data)
                    for a, s in zip(arrays, seconds)]

    def f(xs: list[np.ndarray]) -> float:
        ts = [Tensor(x, requires_grad=True) for x in xs]
        firsts = gradient(ts, func(*ts), create_graph=False)
        return float(sum(np.sum(g.numpy() * w) for g, w in zip(firsts, u) if g is not None))

    return _compare("gradgradcheck", inputs, arrays, analytic, f, eps, atol, rtol, fast,
                    n_directions, gen, "backpropagation through the gradient",
                    " of the gradient")
