"""Tensor's operators and methods come from one table, and each is the primitive it names."""

from __future__ import annotations

import ast
import importlib
import inspect

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import methods, ops

# Python's numeric dunders a tensor answers; each must be bound from the table.
OPERATORS = {"__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__matmul__", "__neg__",
             "__abs__", "__getitem__", "__radd__", "__rsub__", "__rmul__", "__rtruediv__",
             "__rpow__", "__rmatmul__"}


def test_every_method_is_its_primitive():
    for name, op in methods.METHODS.items():
        assert getattr(cr.Tensor, name) is op, name


def test_every_operator_comes_from_the_table():
    assert set(methods.METHODS) | set(methods.REFLECTED) >= OPERATORS


def test_the_tensor_module_defines_no_operation():
    # The table is the one place: tensor.py's class body defines none of its names.
    # (chainrule.engine.tensor is also the function's name, so ask for the module by name)
    tree = ast.parse(inspect.getsource(importlib.import_module("chainrule.engine.tensor")))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert not defined & (set(methods.METHODS) | set(methods.REFLECTED) | {"__iter__", "T"})


@pytest.mark.parametrize("name", sorted(methods.REFLECTED))
def test_reflected_operators_swap_their_operands(name):
    op = methods.REFLECTED[name]
    a = np.array([[1.5, 2.0], [3.0, 0.5]])
    b = cr.tensor([[2.0, 1.0], [0.5, 4.0]], requires_grad=True)
    got = getattr(b, name)(a)
    want = op(cr.tensor(a), b)
    np.testing.assert_array_equal(got.data, want.data)
    assert got.op == want.op
    assert "swapped" in getattr(cr.Tensor, name).__doc__


def test_numpy_arrays_on_the_left_defer_to_the_tensor():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 3.0]) - w        # ndarray.__sub__ defers: Tensor.__rsub__
    assert isinstance(y, cr.Tensor) and y.op == "sub"
    y.sum().backward()
    assert w.grad.tolist() == [-1.0, -1.0]


def test_iteration_and_transpose_property():
    t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(t)
    assert [r.op for r in rows] == ["getitem", "getitem"]
    assert t.T.op == "transpose" and t.T.data.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert cr.Tensor.exp is ops.exp and cr.Tensor.sum.__doc__.startswith("Sum over")
