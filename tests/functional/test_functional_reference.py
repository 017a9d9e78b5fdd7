"""cr.functional against PyTorch's torch.autograd.functional and JAX (jacrev, hessian, jvp,
vjp), in float64 to 1e-10: values and the nested-tuple structure of every answer."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from conftest import needs_torch

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="JAX is not installed")
TOL = 1e-10
RNG = np.random.default_rng(7)
X = RNG.normal(size=(5, 3))                      # a tanh MLP's data: 5 rows, 3 features
Y = RNG.normal(size=(5, 1))
LABELS = np.eye(4)[[0, 3, 1, 1, 2]]              # one-hot classes for the cross-entropy


class Lib:
    """The few functions the cases need, from one library (chainrule, torch or jax)."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "cr":
            self.tanh, self.exp = cr.tanh, cr.exp
            self.log_softmax = lambda z: cr.log_softmax(z, axis=1)
            self.const = lambda a: a
        elif name == "torch":
            import torch
            self.tanh, self.exp = torch.tanh, torch.exp
            self.log_softmax = lambda z: torch.log_softmax(z, dim=1)
            self.const = lambda a: torch.tensor(a)
        else:
            import jax
            import jax.numpy as jnp
            self.tanh, self.exp = jnp.tanh, jnp.exp
            self.log_softmax = lambda z: jax.nn.log_softmax(z, axis=1)
            self.const = jnp.asarray


def mlp_loss(m: Lib):
    x, y = m.const(X), m.const(Y)

    def f(w1, b1, w2, b2):
        return (((m.tanh(x @ w1 + b1) @ w2 + b2) - y) ** 2).mean()
    return f


def cross_entropy(m: Lib):
    labels = m.const(LABELS)
    return lambda z: -(m.log_softmax(z) * labels).sum() / 5


def elementwise_pair(m: Lib):
    return lambda a, b: (a * m.exp(b), m.tanh(a) / (1 + b ** 2))


def matrix_pair(m: Lib):
    return lambda a, b: (m.tanh(a @ b), (a.T @ a).sum(0) * 0.5)


def matrix_scalar(m: Lib):
    return lambda a, b: (m.tanh(a @ b) ** 2).sum() + (a * a).sum() * (b * b).sum()


MLP_W = (RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=(4, 1)),
         RNG.normal(size=1))
LOGITS = RNG.normal(size=(5, 4))
PAIR = (RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3)))
MATS = (RNG.normal(size=(3, 2)), RNG.normal(size=(2, 3)))

SCALAR_CASES = {  # one-number functions: Hessians, hvp, vhp
    "mlp_loss": (mlp_loss, MLP_W),
    "cross_entropy": (cross_entropy, LOGITS),
    "matrix_scalar": (matrix_scalar, MATS),
}
VECTOR_CASES = {  # tuple inputs and tuple outputs: Jacobians, vjp, jvp
    "elementwise_pair": (elementwise_pair, PAIR),
    "matrix_pair": (matrix_pair, MATS),
    "mlp_loss": (mlp_loss, MLP_W),
    "cross_entropy": (cross_entropy, LOGITS),
}


def _as(inputs, convert):
    return tuple(convert(a) for a in inputs) if isinstance(inputs, tuple) else convert(inputs)


def _like(x, seed: int):
    """A random array shaped as x (or a tuple of them, as x is)."""
    gen = np.random.default_rng(seed)
    if isinstance(x, tuple):
        return tuple(gen.normal(size=np.shape(a)) for a in x)
    return gen.normal(size=np.shape(x))


def assert_same(ours, ref, where: str = "result") -> None:
    """Same nested-tuple structure, shapes and values (to TOL) as the reference."""
    if isinstance(ref, (tuple, list)):
        assert isinstance(ours, tuple), f"{where}: expected a tuple, got {type(ours).__name__}"
        assert len(ours) == len(ref), f"{where}: {len(ours)} entries, reference {len(ref)}"
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_same(a, b, f"{where}[{i}]")
        return
    assert isinstance(ours, cr.Tensor), f"{where}: expected a Tensor, got {type(ours).__name__}"
    expected = np.asarray(ref.detach().numpy() if hasattr(ref, "detach") else ref)
    assert ours.shape == expected.shape, f"{where}: shape {ours.shape} vs {expected.shape}"
    np.testing.assert_allclose(ours.data, expected, rtol=TOL, atol=TOL, err_msg=where)


# -- PyTorch --------------------------------------------------------------------------------
def _torch(inputs):
    import torch
    return _as(inputs, lambda a: torch.tensor(a, dtype=torch.float64))


@needs_torch
@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_hessian_matches_torch(name: str) -> None:
    import torch.autograd.functional as TF
    make, inputs = SCALAR_CASES[name]
    ours = cr.functional.hessian(make(Lib("cr")), _as(inputs, cr.tensor))
    assert_same(ours, TF.hessian(make(Lib("torch")), _torch(inputs)))


@needs_torch
@pytest.mark.parametrize("name", sorted(VECTOR_CASES))
def test_jacobian_matches_torch(name: str) -> None:
    import torch.autograd.functional as TF
    make, inputs = VECTOR_CASES[name]
    ours = cr.functional.jacobian(make(Lib("cr")), _as(inputs, cr.tensor))
    assert_same(ours, TF.jacobian(make(Lib("torch")), _torch(inputs)))


@needs_torch
@pytest.mark.parametrize("name", sorted(VECTOR_CASES))
def test_vjp_and_jvp_match_torch(name: str) -> None:
    import torch.autograd.functional as TF
    make, inputs = VECTOR_CASES[name]
    f_cr, f_torch = make(Lib("cr")), make(Lib("torch"))
    out = f_cr(*_as(inputs, cr.tensor)) if isinstance(inputs, tuple) else f_cr(cr.tensor(inputs))
    v_out = _like(tuple(o.data for o in out) if isinstance(out, tuple) else out.data, 1)
    v_in = _like(inputs, 2)
    ours = cr.functional.vjp(f_cr, _as(inputs, cr.tensor), _as(v_out, cr.tensor))
    assert_same(ours, TF.vjp(f_torch, _torch(inputs), _torch(v_out)))
    ours = cr.functional.jvp(f_cr, _as(inputs, cr.tensor), _as(v_in, cr.tensor))
    assert_same(ours, TF.jvp(f_torch, _torch(inputs), _torch(v_in)))


@needs_torch
@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
@pytest.mark.parametrize("product", ["hvp", "vhp"])
def test_hessian_products_match_torch(name: str, product: str) -> None:
    import torch.autograd.functional as TF
    make, inputs = SCALAR_CASES[name]
    v = _like(inputs, 3)
    ours = getattr(cr.functional, product)(make(Lib("cr")), _as(inputs, cr.tensor),
                                          _as(v, cr.tensor))
    assert_same(ours, getattr(TF, product)(make(Lib("torch")), _torch(inputs), _torch(v)))


@needs_torch
def test_a_single_input_and_output_without_v_match_torch() -> None:
    import torch
    import torch.autograd.functional as TF

    def f(x, lib):
        return (lib.tanh(x) * x).sum()
    x = np.array(0.7)
    t = torch.tensor(x)
    for name in ("vjp", "jvp", "hvp", "vhp"):
        ours = getattr(cr.functional, name)(lambda a: f(a, Lib("cr")), cr.tensor(x))
        assert_same(ours, getattr(TF, name)(lambda a: f(a, Lib("torch")), t), name)


@needs_torch
def test_create_graph_answers_differentiate_again_as_in_torch() -> None:
    # f = sum(x^4 + 3 x^3): H = diag(12 x^2 + 18 x); d(sum H)/dx = 24 x + 18.
    import torch
    import torch.autograd.functional as TF
    x0 = np.array([0.5, -1.0, 2.0])
    x = cr.tensor(x0, requires_grad=True)
    H = cr.functional.hessian(lambda a: (a ** 4 + 3 * a ** 3).sum(), x, create_graph=True)
    (third,) = cr.grad(H.sum(), x)
    np.testing.assert_allclose(third.data, 24 * x0 + 18, rtol=TOL)
    t = torch.tensor(x0, requires_grad=True)
    Ht = TF.hessian(lambda a: (a ** 4 + 3 * a ** 3).sum(), t, create_graph=True)
    (third_t,) = torch.autograd.grad(Ht.sum(), t)
    assert_same(third, third_t)
    # jvp, vjp, hvp with create_graph: their answers carry a graph back to x as well.
    v = cr.tensor([1.0, 2.0, 3.0])
    for name in ("vjp", "jvp", "hvp", "vhp"):
        def f(a, scalar="h" in name):
            return (a ** 4).sum() if scalar else a ** 4
        _, ans = getattr(cr.functional, name)(f, x, v, create_graph=True)
        (ours,) = cr.grad(ans.sum(), x)
        _, ans_t = getattr(TF, name)(f, t, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
                                     create_graph=True)
        (ref,) = torch.autograd.grad(ans_t.sum(), t)
        assert_same(ours, ref, name)


@needs_torch
def test_strict_refuses_what_torch_refuses() -> None:
    import torch.autograd.functional as TF

    def independent_of_b(a, b):
        return a * 2

    def linear(a):
        return (a * 3).sum()
    a, b = np.ones(2), np.ones(2)
    cases = [
        ("vjp", independent_of_b, (a, b), (np.ones(2),)),
        ("jvp", independent_of_b, (a, b), ((np.ones(2), np.ones(2)),)),
        ("jacobian", independent_of_b, (a, b), ()),
        ("hessian", linear, a, ()),
        ("hvp", linear, a, (np.ones(2),)),
        ("vhp", linear, a, (np.ones(2),)),
    ]
    for name, f, inputs, extra in cases:
        with pytest.raises(RuntimeError):
            getattr(TF, name)(f, _torch(inputs), *[_torch(e) for e in extra], strict=True)
        with pytest.raises(cr.GraphError, match=rf"{name}\(strict=True\).*input"):
            getattr(cr.functional, name)(f, _as(inputs, cr.tensor),
                                         *[_as(e, cr.tensor) for e in extra], strict=True)
        # without strict both give zeros where nothing depends
        ours = getattr(cr.functional, name)(f, _as(inputs, cr.tensor),
                                            *[_as(e, cr.tensor) for e in extra])
        assert_same(ours, getattr(TF, name)(f, _torch(inputs), *[_torch(e) for e in extra]),
                    name)


# -- JAX ------------------------------------------------------------------------------------
def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


def _argnums(inputs):
    return tuple(range(len(inputs))) if isinstance(inputs, tuple) else 0


def _jnp(inputs):
    import jax.numpy as jnp
    return _as(inputs, lambda a: jnp.asarray(a, dtype=jnp.float64))


def _np(tree):
    return tuple(_np(t) for t in tree) if isinstance(tree, (tuple, list)) else np.asarray(tree)


@needs_jax
@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_hessian_matches_jax(name: str) -> None:
    jax = _jax()
    make, inputs = SCALAR_CASES[name]
    ours = cr.functional.hessian(make(Lib("cr")), _as(inputs, cr.tensor))
    f = make(Lib("jax"))
    args = _jnp(inputs) if isinstance(inputs, tuple) else (_jnp(inputs),)
    # jax.hessian is forward over reverse: jacfwd(jacrev(f))
    assert_same(ours, _np(jax.hessian(f, argnums=_argnums(inputs))(*args)))


@needs_jax
@pytest.mark.parametrize("name", sorted(VECTOR_CASES))
def test_jacobian_vjp_and_jvp_match_jax(name: str) -> None:
    jax = _jax()
    make, inputs = VECTOR_CASES[name]
    f_cr, f = make(Lib("cr")), make(Lib("jax"))
    tup = isinstance(inputs, tuple)
    args = _jnp(inputs) if tup else (_jnp(inputs),)
    ours = cr.functional.jacobian(f_cr, _as(inputs, cr.tensor))
    assert_same(ours, _np(jax.jacrev(f, argnums=_argnums(inputs))(*args)))

    out, pullback = jax.vjp(f, *args)
    v_out = _like(_np(out), 1)
    ours_out, ours_vjp = cr.functional.vjp(f_cr, _as(inputs, cr.tensor), _as(v_out, cr.tensor))
    assert_same(ours_out, _np(out))
    ref = pullback(_jnp(v_out))
    assert_same(ours_vjp, _np(ref) if tup else _np(ref[0]))

    v_in = _like(inputs, 2)
    out, tangent = jax.jvp(f, args, _jnp(v_in) if tup else (_jnp(v_in),))
    ours_out, ours_jvp = cr.functional.jvp(f_cr, _as(inputs, cr.tensor), _as(v_in, cr.tensor))
    assert_same(ours_jvp, _np(tangent))


@needs_jax
@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_hvp_matches_jax_forward_over_reverse(name: str) -> None:
    jax = _jax()
    make, inputs = SCALAR_CASES[name]
    tup = isinstance(inputs, tuple)
    args = _jnp(inputs) if tup else (_jnp(inputs),)
    v = _like(inputs, 3)
    grad_f = jax.grad(make(Lib("jax")), argnums=_argnums(inputs))
    _, ref = jax.jvp(grad_f, args, _jnp(v) if tup else (_jnp(v),))
    for product in ("hvp", "vhp"):
        _, ours = getattr(cr.functional, product)(make(Lib("cr")), _as(inputs, cr.tensor),
                                                  _as(v, cr.tensor))
        assert_same(ours, _np(ref), product)


@needs_jax
def test_third_derivative_matches_jax() -> None:
    jax = _jax()
    x0 = np.array([0.3, -0.8])

    def f(a, lib):
        return (lib.tanh(a) ** 3).sum() * (a * a).sum()
    x = cr.tensor(x0, requires_grad=True)
    H = cr.functional.hessian(lambda a: f(a, Lib("cr")), x, create_graph=True)
    third = cr.functional.jacobian(lambda a: cr.functional.hessian(
        lambda b: f(b, Lib("cr")), a, create_graph=True), x)
    ref = jax.jacfwd(jax.hessian(lambda a: f(a, Lib("jax"))))(_jnp(x0))
    assert_same(third, _np(ref))
    assert_same(H.detach(), _np(jax.hessian(lambda a: f(a, Lib("jax")))(_jnp(x0))))
