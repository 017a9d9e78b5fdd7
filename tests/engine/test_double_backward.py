"""Double backward of every engine operation against PyTorch (float64, to 1e-10).

For each operation f, inputs x and a random seed u (the ``grad_outputs``):
g = grad(f(x), x, u, create_graph=True), then the gradient of sum(g * v) with respect to x
and to u, in chainrule and in ``torch.autograd.grad``.  Inputs cover the broadcast shape
pairs of test_ops.py, kinks and ties where first order already follows PyTorch's convention,
and the Hessians of a tanh MLP's loss and of softmax cross-entropy built from engine ops
against ``torch.autograd.functional.hessian``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Primitive, ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-10


def _distinct(rng, shape):
    # well separated values: max/min/relu/abs/clip are never evaluated at a kink
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + 0.5) * 0.37).reshape(shape)


def _normal(rng, shape):
    return rng.normal(size=shape)


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _zeros_if_none(g, like):
    if g is None:
        return np.zeros(np.shape(like))
    return g.data if isinstance(g, cr.Tensor) else g.detach().numpy(force=True)


def _double(cr_fn: Callable, torch_fn: Callable, arrays: list[np.ndarray],
            seed: int = 3) -> float:
    """Largest |chainrule - torch| over the first gradients and the second gradients of
    sum(g * v) with respect to every input and to the seed u."""
    rng = np.random.default_rng(seed)
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = cr_fn(*xs)
    u0 = rng.normal(size=out.shape)
    vs = [rng.normal(size=np.shape(a)) for a in arrays]
    u = cr.tensor(u0, requires_grad=True)
    gs = cr.grad(out, xs, grad_outputs=u, create_graph=True, allow_unused=True)
    s = sum(((g * v).sum() for g, v in zip(gs, vs) if g is not None), cr.tensor(0.0))
    second = cr.grad(s, [*xs, u], allow_unused=True) if s.requires_grad else [None] * (
        len(xs) + 1)

    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = torch_fn(*ts)
    tu = torch.tensor(u0, requires_grad=True)
    tgs = torch.autograd.grad(tout, ts, grad_outputs=tu, create_graph=True, allow_unused=True)
    tsum = sum((g * torch.tensor(v)).sum() for g, v in zip(tgs, vs) if g is not None)
    tsecond = (torch.autograd.grad(tsum, [*ts, tu], allow_unused=True)
               if isinstance(tsum, torch.Tensor) and tsum.requires_grad else [None] * (len(ts) + 1))

    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    return _worst([*gs, *second], [*tgs, *tsecond], [*arrays, *arrays, u0])


def _worst(ours: list, theirs: list, likes: list) -> float:
    """Largest |ours - theirs|; infinities and NaNs must sit in the same places."""
    worst = 0.0
    for c, t, like in zip(ours, theirs, likes):
        a, b = _zeros_if_none(c, like), _zeros_if_none(t, like)
        assert a.shape == b.shape, (a.shape, b.shape)
        finite = np.isfinite(b)
        np.testing.assert_array_equal(a[~finite], b[~finite])
        if finite.any():
            worst = max(worst, float(np.max(np.abs(a[finite] - b[finite]))))
    assert worst < TOL, worst
    return worst


# name: (chainrule function, torch function, sampler); one input of shape (3, 4)
UNARY = {
    "neg": (lambda a: -a, lambda a: -a, _normal),
    "exp": (cr.exp, torch.exp, _normal),
    "log": (cr.log, torch.log, _positive),
    "sqrt": (cr.sqrt, torch.sqrt, _positive),
    "abs": (cr.abs, torch.abs, _distinct),
    "tanh": (cr.tanh, torch.tanh, _normal),
    "sigmoid": (cr.sigmoid, torch.sigmoid, _normal),
    "relu": (cr.relu, torch.relu, _distinct),
    "leaky_relu": (lambda a: cr.leaky_relu(a, 0.1), lambda a: F.leaky_relu(a, 0.1), _distinct),
    "clip": (lambda a: cr.clip(a, -0.5, 0.7), lambda a: torch.clamp(a, -0.5, 0.7), _distinct),
    "clip_min": (lambda a: cr.clip(a, -0.5), lambda a: torch.clamp(a, min=-0.5), _distinct),
    "softmax": (lambda a: cr.softmax(a, axis=-1), lambda a: torch.softmax(a, dim=-1), _normal),
    "softmax0": (lambda a: cr.softmax(a, axis=0), lambda a: torch.softmax(a, dim=0), _normal),
    "log_softmax": (lambda a: cr.log_softmax(a, axis=1), lambda a: torch.log_softmax(a, dim=1),
                    _normal),
    "logsumexp": (lambda a: cr.logsumexp(a, axis=1), lambda a: torch.logsumexp(a, dim=1),
                  _normal),
    "logsumexp_keep": (lambda a: cr.logsumexp(a, axis=0, keepdims=True),
                       lambda a: torch.logsumexp(a, dim=0, keepdim=True), _normal),
    "logsumexp_all": (lambda a: cr.logsumexp(a), lambda a: torch.logsumexp(a, dim=(0, 1)),
                      _normal),
    "sum": (lambda a: a.sum(), lambda a: a.sum(), _normal),
    "sum_axis": (lambda a: a.sum(axis=0), lambda a: a.sum(dim=0), _normal),
    "sum_keep": (lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(dim=1, keepdim=True),
                 _normal),
    "mean": (lambda a: a.mean(), lambda a: a.mean(), _normal),
    "mean_axis": (lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1), _normal),
    "max": (lambda a: a.max(), lambda a: torch.amax(a), _distinct),
    "max_axis": (lambda a: a.max(axis=1, keepdims=True), lambda a: torch.amax(a, 1, True),
                 _distinct),
    "min_axis": (lambda a: a.min(axis=0), lambda a: torch.amin(a, 0), _distinct),
    "pow2": (lambda a: a ** 2, lambda a: a ** 2, _normal),
    "pow3": (lambda a: a ** 3, lambda a: a ** 3, _normal),
    "pow0": (lambda a: a ** 0, lambda a: a ** 0, _normal),
    "pow_half": (lambda a: a ** 0.5 + a ** -1.5, lambda a: a ** 0.5 + a ** -1.5, _positive),
    "rsub": (lambda a: 1.5 - a, lambda a: 1.5 - a, _normal),
    "scale": (lambda a: 2.5 * a / 4.0 + 1.0 - 0.5, lambda a: 2.5 * a / 4.0 + 1.0 - 0.5, _normal),
    "rdiv": (lambda a: 3.0 / a, lambda a: 3.0 / a, _positive),
    "rpow": (lambda a: 2.0 ** a, lambda a: 2.0 ** a, _normal),
    "reshape": (lambda a: a.reshape(-1).reshape(4, 3), lambda a: a.reshape(-1).reshape(4, 3),
                _normal),
    "transpose": (lambda a: a.T, lambda a: a.T, _normal),
    "transpose_axes": (lambda a: a.reshape(3, 2, 2).transpose(2, 0, 1),
                       lambda a: a.reshape(3, 2, 2).permute(2, 0, 1), _normal),
    "slice": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], _normal),
    "int_index": (lambda a: a[[0, 2, 0], [1, 1, 1]], lambda a: a[[0, 2, 0], [1, 1, 1]],
                  _normal),
    "row_index": (lambda a: a[np.array([2, 0, 2])], lambda a: a[torch.tensor([2, 0, 2])],
                  _normal),
    "mask": (lambda a: a[a.data > 0], lambda a: a[a > 0], _normal),
    "astype": (lambda a: (a.astype("float32") * a.astype("float32")).astype("float64"),
               lambda a: (a.float() * a.float()).double(),
               lambda rng, shape: rng.integers(-16, 16, size=shape) / 8.0),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_double_backward(name: str) -> None:
    cr_fn, torch_fn, sample = UNARY[name]
    _double(cr_fn, torch_fn, [sample(np.random.default_rng(0), (3, 4))])


BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                    ((), (2, 3)), ((5, 1, 3), (4, 1))]
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b, _normal),
    "sub": (lambda a, b: a - b, lambda a, b: a - b, _normal),
    "mul": (lambda a, b: a * b, lambda a, b: a * b, _normal),
    "div": (lambda a, b: a / b, lambda a, b: a / b, _positive),
    "pow": (lambda a, b: a ** b, lambda a, b: a ** b, _positive),
    "maximum": (cr.maximum, torch.maximum, _normal),
    "minimum": (cr.minimum, torch.minimum, _normal),
    "where": (lambda a, b: cr.where(a.data > 0.1, a, b), lambda a, b: torch.where(a > 0.1, a, b),
              _normal),
}


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_double_backward(name: str, shapes: tuple) -> None:
    cr_fn, torch_fn, sample = BINARY[name]
    rng = np.random.default_rng(1)
    _double(cr_fn, torch_fn, [sample(rng, s) for s in shapes])


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_double_backward(shapes: tuple) -> None:
    rng = np.random.default_rng(2)
    _double(lambda a, b: a @ b, lambda a, b: a @ b, [rng.normal(size=s) for s in shapes])


@pytest.mark.parametrize("x_shape", [(5, 4), (2, 3, 4), (4,)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_double_backward(x_shape: tuple, bias: bool) -> None:
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=x_shape), rng.normal(size=(3, 4))]
    if bias:
        arrays.append(rng.normal(size=3))
    _double(cr.linear, F.linear, arrays)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stack_and_concatenate_double_backward(axis: int) -> None:
    rng = np.random.default_rng(5)
    arrays = [rng.normal(size=(3, 4)) for _ in range(3)]
    _double(lambda *t: cr.stack(t, axis=axis) * cr.concatenate(t, axis=0).sum(),
            lambda *t: torch.stack(t, dim=axis) * torch.cat(t, dim=0).sum(), arrays)


def test_compositions_whose_first_derivative_is_not_linear() -> None:
    """Ops whose own second derivative is zero (shapes, indexing, reductions) placed where the
    first derivative still depends on x, so their rules are differentiated on x's path too."""
    rng = np.random.default_rng(6)
    a = rng.normal(size=(3, 4))

    def f(x, stack, amax, amin):
        y = x * x
        return (stack([y[:, ::2].reshape(-1), (y.T)[[0, 0, 2], 1:].reshape(-1)], 0).sum(0)
                * amax(y, 1).sum() + y.mean(0).sum() * amin(y))

    _double(lambda x: f(x, cr.stack, lambda t, ax: t.max(axis=ax), lambda t: t.min()),
            lambda x: f(x, torch.stack, torch.amax, torch.amin), [a])


# Kinks and ties where first order follows PyTorch: the second derivative there is PyTorch's
# too (zero with respect to x; the same subgradient mask with respect to the seed).
TIES = {
    "maximum_tie": (cr.maximum, torch.maximum),
    "minimum_tie": (cr.minimum, torch.minimum),
    "relu_at_0": (lambda a, b: cr.relu(a - b), lambda a, b: torch.relu(a - b)),
    "abs_at_0": (lambda a, b: cr.abs(a - b), lambda a, b: torch.abs(a - b)),
    "clip_at_edges": (lambda a, b: cr.clip(a - b, -0.5, 0.5),
                      lambda a, b: torch.clamp(a - b, -0.5, 0.5)),
    "leaky_relu_at_0": (lambda a, b: cr.leaky_relu(a - b, 0.2),
                        lambda a, b: F.leaky_relu(a - b, 0.2)),
}


@pytest.mark.parametrize("name", sorted(TIES))
def test_kinks_and_ties_follow_pytorch(name: str) -> None:
    a = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 0.25, -1.0, 2.0]])
    b = np.array([[1.0, -2.0, 0.0, 2.5], [0.0, 0.25, -1.0, 3.0]])  # ties / zeros in columns
    if name == "clip_at_edges":
        b = a - np.array([[0.5, -0.5, 0.0, 1.0], [-0.5, 0.5, 0.2, -2.0]])
    cr_fn, torch_fn = TIES[name]
    _double(cr_fn, torch_fn, [a, b])


def test_max_reduction_ties_follow_amax() -> None:
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 0.5, -1.0, 0.25]])
    _double(lambda x: (x * x).max(axis=1) + x.min(axis=0).sum(),
            lambda x: torch.amax(x * x, 1) + torch.amin(x, 0).sum(), [a])


@pytest.mark.parametrize("name", ["pow", "sqrt", "log", "rdiv", "div_by_0", "pow_neg"])
def test_domain_edges_give_pytorchs_infinities(name: str) -> None:
    """At 0, where a derivative is infinite, the same infinities (and signs) as PyTorch."""
    cases = {
        "pow": (lambda a, b: a ** b, [np.array([0.0, 0.0, 2.0, 0.0]),
                                      np.array([2.0, -1.0, 0.5, 1.0])]),
        "sqrt": (lambda a: a.sqrt() if isinstance(a, cr.Tensor) else torch.sqrt(a),
                 [np.array([0.0, 1.0])]),
        "log": (lambda a: a.log() if isinstance(a, cr.Tensor) else torch.log(a),
                [np.array([0.0, 1.0])]),
        "rdiv": (lambda a: 1.0 / a, [np.array([0.0, 1.0])]),
        "div_by_0": (lambda a: a / 0.0, [np.array([0.0, 1.0])]),
        "pow_neg": (lambda a: a ** -1 + a ** 0.5, [np.array([0.0, 1.0])]),
    }
    f, arrays = cases[name]
    with np.errstate(all="ignore"):
        _double(f, f, arrays)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "exp", "log", "sqrt", "softmax",
                                  "log_softmax", "logsumexp", "pow_half", "rdiv", "pow3"])
def test_third_derivatives(name: str) -> None:
    """A gradient of a gradient is itself differentiable: the third derivative too."""
    cr_fn, torch_fn, sample = UNARY[name]
    rng = np.random.default_rng(10)
    a = sample(rng, (3, 4))
    v, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    x = cr.tensor(a, requires_grad=True)
    out = cr_fn(x)
    u = rng.normal(size=out.shape)
    (g,) = cr.grad(out, x, grad_outputs=u, create_graph=True)
    (h,) = cr.grad((g * v).sum(), x, create_graph=True)
    third = cr.grad((h * w).sum(), x, allow_unused=True) if h.requires_grad else (None,)
    t = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(torch_fn(t), t, grad_outputs=torch.tensor(u), create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), t, create_graph=True)
    tthird = (torch.autograd.grad((th * torch.tensor(w)).sum(), t, allow_unused=True)
              if th.requires_grad else (None,))
    _worst([g, h, *third], [tg, th, *tthird], [a, a, a])


@pytest.mark.parametrize(("source", "destination"), [(0, 2), (2, 0), (1, -1), (-1, 0),
                                                      ((0, 1), (2, 0))])
def test_numpy_moveaxis_on_a_tensor_is_numpys(source, destination) -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    moved = np.moveaxis(cr.tensor(a, requires_grad=True), source, destination)
    np.testing.assert_array_equal(moved.data, np.moveaxis(a, source, destination))


@pytest.mark.parametrize("name", sorted(set(UNARY) - {"astype"}) + sorted(BINARY))
def test_second_derivatives_keep_float32(name: str) -> None:
    """float32 stays float32 through a gradient of a gradient, as through the first."""
    binary = name in BINARY
    fn, _, sample = BINARY[name] if binary else UNARY[name]
    rng = np.random.default_rng(11)
    shapes = [(3, 4), (4,)] if binary else [(3, 4)]
    xs = [cr.tensor(sample(rng, s).astype(np.float32), requires_grad=True) for s in shapes]
    out = fn(*xs)
    u = cr.tensor(np.ones(out.shape, np.float32), requires_grad=True)
    gs = [g for g in cr.grad(out, xs, grad_outputs=u, create_graph=True, allow_unused=True)
          if g is not None]
    s = sum(((g * g).sum() for g in gs), cr.tensor(np.float32(0)))
    second = cr.grad(s, [*xs, u], allow_unused=True) if s.requires_grad else ()
    assert {str(t.dtype) for t in [out, *gs, *second] if t is not None} == {"float32"}


# -- Hessians against torch.autograd.functional.hessian -------------------------------------------

def _hessian(f: Callable, arrays: list[np.ndarray]) -> list[list[np.ndarray]]:
    """H[i][j] of shape (*x_i.shape, *x_j.shape), as torch.autograd.functional.hessian."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    gs = cr.grad(f(*xs), xs, create_graph=True)
    blocks = [[np.zeros((*a.shape, *b.shape)) for b in arrays] for a in arrays]
    for i, (g, a) in enumerate(zip(gs, arrays)):
        flat = g.reshape(-1)
        for k in range(a.size):
            rows = cr.grad(flat[k], xs, retain_graph=True, allow_unused=True)
            for j, r in enumerate(rows):
                if r is not None:
                    blocks[i][j].reshape(a.size, -1)[k] = r.data.reshape(-1)
    return blocks


def _compare_hessians(cr_f: Callable, torch_f: Callable, arrays: list[np.ndarray]) -> float:
    ours = _hessian(cr_f, arrays)
    theirs = torch.autograd.functional.hessian(torch_f, tuple(torch.tensor(a) for a in arrays))
    worst = max(float(np.max(np.abs(ours[i][j] - theirs[i][j].numpy())))
                for i in range(len(arrays)) for j in range(len(arrays)))
    assert worst < TOL, worst
    return worst


def test_hessian_of_a_tanh_mlp_loss() -> None:
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 1))
    params = [rng.normal(size=(4, 3)) * 0.7, rng.normal(size=4) * 0.1,
              rng.normal(size=(1, 4)) * 0.7, rng.normal(size=1) * 0.1]

    def cr_loss(w1, b1, w2, b2):
        h = cr.linear(cr.tensor(X), w1, b1).tanh()
        return ((h @ w2.T + b2 - cr.tensor(y)) ** 2).mean()

    def torch_loss(w1, b1, w2, b2):
        h = torch.tanh(F.linear(torch.tensor(X), w1, b1))
        return ((h @ w2.T + b2 - torch.tensor(y)) ** 2).mean()

    _compare_hessians(cr_loss, torch_loss, params)


@pytest.mark.parametrize("form", ["log_softmax", "logsumexp", "softmax_log"])
def test_hessian_of_softmax_cross_entropy(form: str) -> None:
    rng = np.random.default_rng(9)
    X = rng.normal(size=(5, 3))
    onehot = np.eye(4)[rng.integers(0, 4, size=5)]
    params = [rng.normal(size=(4, 3)), rng.normal(size=4)]

    def cr_loss(w, b):
        z = cr.linear(cr.tensor(X), w, b)
        if form == "log_softmax":
            logp = z.log_softmax(axis=1)
        elif form == "logsumexp":
            logp = z - z.logsumexp(axis=1, keepdims=True)
        else:
            logp = z.softmax(axis=1).log()
        return -(logp * cr.tensor(onehot)).sum(axis=1).mean()

    def torch_loss(w, b):
        z = F.linear(torch.tensor(X), w, b)
        return -(torch.log_softmax(z, dim=1) * torch.tensor(onehot)).sum(dim=1).mean()

    _compare_hessians(cr_loss, torch_loss, params)


COVERED = {"abs", "add", "astype", "clip", "concatenate", "div", "exp", "getitem", "leaky_relu",
           "linear", "log", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min",
           "minimum", "mul", "neg", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt",
           "stack", "sub", "sum", "tanh", "transpose", "where",
           "scatter",  # indexing's adjoint: differentiated in every indexing case above
           "to"}  # the move between devices: tests/engine/test_devices.py


def test_every_engine_operation_is_covered() -> None:
    """A new primitive in engine.ops must get a double-backward case here."""
    kinds = ("arithmetic", "elementwise", "linalg", "reductions", "shapes", "softmax",
             "transfer")
    modules = [importlib.import_module(f"chainrule.engine.ops.{k}") for k in kinds]
    primitives = {v.name for m in modules for v in vars(m).values() if isinstance(v, Primitive)}
    assert primitives == COVERED
    # stable_sigmoid works on arrays (sigmoid's forward), not on tensors
    assert set(ops.__all__) - {"stable_sigmoid", "cpu", "cuda"} <= COVERED  # cpu, cuda: to


@pytest.mark.parametrize("call", [lambda t: np.reshape(t, (4, 3), order="F"),
                                  lambda t: np.sum(t, axis=0, out=np.zeros(4)),
                                  lambda t: np.mean(t, axis=0, out=np.zeros(4))])
def test_numpy_calls_a_graph_cannot_follow_say_so(call) -> None:
    """Fortran order and out= would give a silently wrong graph: a named error instead."""
    with pytest.raises(cr.GraphError, match="no differentiable form"):
        call(cr.tensor(np.ones((3, 4)), requires_grad=True))
