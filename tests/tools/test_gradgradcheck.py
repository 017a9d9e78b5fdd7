"""cr.gradgradcheck: second derivatives, backpropagated through the gradient, against finite
differences of the gradient (float64), naming the worst entry as cr.gradcheck does."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Primitive
from conftest import needs_torch

RNG = np.random.default_rng(11)
A, B = RNG.normal(size=(2, 3, 3))


def _square_saved_as_constant(x: cr.Tensor) -> cr.Tensor:
    """x ** 2 whose rule multiplies by a saved 2 x that it wrongly calls a constant: the
    gradient is right, but its own derivative misses d(2 x)/dx = 2."""

    def backward(out, g):
        return (g * out.saved,)
    square = Primitive("square_saved_as_constant", backward, saved="constant")
    return square(x.data ** 2, (x,), saved=2 * x.data)


@pytest.mark.parametrize("func", [
    lambda a, b: (a @ b).tanh().sum(),
    lambda a, b: cr.log_softmax(a * b, axis=1),          # a non-scalar output
    lambda a, b: (a.sigmoid() * b.exp()).sum() / (1 + (b * b).sum()),
    lambda a, b: (a + 2 * b).sum(),                      # linear: every second derivative 0
], ids=["tanh-matmul", "log-softmax", "sigmoid-exp-ratio", "linear"])
def test_passes_on_engine_operations(func) -> None:
    assert cr.gradgradcheck(func, (A, B))
    assert cr.gradgradcheck(func, (cr.tensor(A), cr.tensor(B)), fast=True)


def test_names_input_index_and_both_values_of_the_worst_entry() -> None:
    x = np.arange(1.0, 7.0).reshape(2, 3)
    f = lambda a: (_square_saved_as_constant(a) * a).sum()
    assert cr.gradcheck(f, (x,))  # first order is right
    # d/dx of the gradient 3 x^2 is 6 x; the rule backpropagates only 4 x (missing 2 x);
    # with u the random weights, the worst entry is where |2 x u| is largest.
    with pytest.raises(cr.GradcheckError,
                       match=r"gradgradcheck: input 0 at index \(\d, \d\): backpropagation "
                             r"through the gradient gives .*, finite differences of the "
                             r"gradient give"):
        cr.gradgradcheck(f, (x,))
    with pytest.raises(cr.GradcheckError, match="gradgradcheck \\(fast\\): along random "
                                                "direction"):
        cr.gradgradcheck(f, (x,), fast=True)


def test_names_a_named_input() -> None:
    x = cr.tensor([1.0, 2.0])
    x.name = "w"
    with pytest.raises(cr.GradcheckError, match=r"input 0 \(w\)"):
        cr.gradgradcheck(lambda a: (_square_saved_as_constant(a) * a).sum(), (x,))


def test_warns_on_float32_and_refuses_a_non_function() -> None:
    with pytest.warns(UserWarning, match="gradgradcheck: input 0 is float32"):
        assert cr.gradgradcheck(lambda a: (a ** 3).sum(), np.ones(3, dtype=np.float32))
    with pytest.raises(cr.ConfigError, match="gradgradcheck: func must be a function"):
        cr.gradgradcheck(3, (A,))


@needs_torch
def test_agrees_with_torch_gradgradcheck() -> None:
    import torch

    def f(lib_tanh, a, b):
        return lib_tanh(a @ b) * a
    assert torch.autograd.gradgradcheck(lambda a, b: f(torch.tanh, a, b),
                                        (torch.tensor(A, requires_grad=True),
                                         torch.tensor(B, requires_grad=True)))
    assert cr.gradgradcheck(lambda a, b: f(cr.tanh, a, b), (A, B))
