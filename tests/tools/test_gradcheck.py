"""gradcheck: passes correct gradients, catches wrong ones and names the worst entry."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Primitive


def _wrong_square_backward(out, g):
    # A deliberately broken primitive: forward x**2, backward claims 3x at index (1, 2).
    grad = 2 * out.inputs[0].data
    grad[1, 2] *= 1.5
    return (g * grad,)


_WRONG_SQUARE = Primitive("wrong_square", _wrong_square_backward)


def _wrong_square(x: cr.Tensor) -> cr.Tensor:
    return _WRONG_SQUARE(x.data**2, (x,))


def test_passes_on_correct_gradients() -> None:
    A, B = np.random.default_rng(0).normal(size=(2, 3, 3))
    assert cr.gradcheck(lambda a, b: (a @ b).tanh().sum(), (A, B))
    assert cr.gradcheck(lambda a, b: (a @ b).tanh().sum(), (A, B), fast=True)
    assert cr.gradcheck(lambda a: a.sigmoid() * 3, cr.tensor(A))  # non-scalar output


def test_names_input_index_and_both_values() -> None:
    x = np.arange(1.0, 13.0).reshape(3, 4)
    # x[1, 2] = 7: the true derivative is 14, the broken backward says 21.
    expected = (r"input 0 at index \(1, 2\): backpropagation gives 21\.0, "
                r"finite differences give 14\.0000")
    with pytest.raises(cr.GradcheckError, match=expected):
        cr.gradcheck(lambda a: _wrong_square(a).sum(), (x,))
    with pytest.raises(cr.GradcheckError, match="random direction"):
        cr.gradcheck(lambda a: _wrong_square(a).sum(), (x,), fast=True)


def test_warns_on_float32_and_checks_in_float64() -> None:
    x = np.ones((2, 2), dtype=np.float32)
    with pytest.warns(UserWarning, match="float32"):
        assert cr.gradcheck(lambda a: (a * a).sum(), (x,))
