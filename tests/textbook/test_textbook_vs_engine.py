"""The plain-NumPy textbook networks against the engine: same network, same gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, textbook
from chainrule.textbook import columns, deep, rows

TOL = 1e-10
SIZES = [(1, 1, 1), (2, 4, 7), (3, 5, 16), (7, 3, 33)]  # (n_x, n_h, m)


def _engine_grads(params: dict, X_rows: np.ndarray, Y_rows: np.ndarray, activation: str):
    """The same 1-hidden-layer network built from nn.Linear in float64; returns (J, grads)."""
    l1 = nn.Linear(*params["W1"].shape[::-1], dtype=np.float64)
    l2 = nn.Linear(*params["W2"].shape[::-1], dtype=np.float64)
    l1.weight.data[...] = params["W1"]
    l1.bias.data[...] = params["b1"].ravel()
    l2.weight.data[...] = params["W2"]
    l2.bias.data[...] = params["b2"].ravel()
    act = {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "relu": nn.ReLU()}[activation]
    model = nn.Sequential(l1, act, l2, nn.Sigmoid())
    J = nn.BCELoss()(model(cr.tensor(X_rows)), cr.tensor(Y_rows))
    J.backward()
    grads = {"dW1": l1.weight.grad, "db1": l1.bias.grad[:, None],
             "dW2": l2.weight.grad, "db2": l2.bias.grad[:, None]}
    return J.item(), grads


def _random_problem(n_x: int, n_h: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    params = columns.initialize_parameters(n_x, n_h, scale=1.0, seed=seed)
    params["b1"] = rng.normal(size=(n_h, 1))  # nonzero biases, so db is a real test
    params["b2"] = rng.normal(size=(1, 1))
    X = rng.normal(size=(m, n_x))
    Y = (rng.random((m, 1)) < 0.5).astype(np.float64)
    return params, X, Y


def _worst(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in b)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("size", SIZES)
def test_columns_layout_matches_engine(size, activation):
    params, X, Y = _random_problem(*size, seed=sum(size))
    A2, cache = columns.forward_propagation(X.T, params, activation)
    assert sorted(cache) == ["A1", "A2", "Z1", "Z2"]
    grads = columns.backward_propagation(params, cache, X.T, Y.T, activation)
    J, expected = _engine_grads(params, X, Y, activation)
    # The seed's cost reads log(1 - A2) from probabilities; near A2 = 1 that loses digits the
    # engine's logits-based loss keeps, so the costs agree to 1e-8 relative, the gradients to 1e-10.
    assert columns.compute_cost(A2, Y.T) == pytest.approx(J, rel=1e-8)
    for k in expected:
        assert grads[k].shape == params[k[1:]].shape
    assert _worst(grads, expected) < TOL


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("size", SIZES)
def test_rows_layout_matches_engine(size, activation):
    params, X, Y = _random_problem(*size, seed=100 + sum(size))
    A2, cache = rows.forward_propagation(X, params, activation)
    assert A2.shape == (X.shape[0], 1)
    grads = rows.backward_propagation(params, cache, X, Y, activation)
    J, expected = _engine_grads(params, X, Y, activation)
    assert rows.compute_cost(A2, Y) == pytest.approx(J, rel=1e-8)  # see the columns test
    assert _worst(grads, expected) < TOL


def test_rows_is_columns_transposed():
    params, X, Y = _random_problem(3, 4, 9, seed=5)
    gc = columns.backward_propagation(params, columns.forward_propagation(X.T, params)[1],
                                      X.T, Y.T)
    gr = rows.backward_propagation(params, rows.forward_propagation(X, params)[1], X, Y)
    assert _worst(gc, gr) < 1e-14


def test_hand_worked_single_example():
    # n_x = n_h = 1, identity-like check by hand with tanh: W1 = 0, b1 = 0 -> A1 = 0, so
    # Z2 = b2 = 0, A2 = 1/2; with y = 1: dZ2 = -1/2, dW2 = dZ2 * A1 = 0, db2 = -1/2,
    # dZ1 = W2 * dZ2 * (1 - 0^2) = 2 * -1/2 = -1, dW1 = dZ1 * x = -3, db1 = -1.
    params = {"W1": np.zeros((1, 1)), "b1": np.zeros((1, 1)),
              "W2": np.full((1, 1), 2.0), "b2": np.zeros((1, 1))}
    X, Y = np.array([[3.0]]), np.array([[1.0]])
    A2, cache = columns.forward_propagation(X, params)
    assert A2[0, 0] == 0.5
    assert columns.compute_cost(A2, Y) == pytest.approx(np.log(2))
    g = columns.backward_propagation(params, cache, X, Y)
    assert (g["dW2"][0, 0], g["db2"][0, 0], g["dW1"][0, 0], g["db1"][0, 0]) == (0, -0.5, -3, -1)


def test_columns_and_rows_train_on_the_flower():
    X, y = cr.data.make_flower(seed=1)
    pc, costs = columns.train(X.T, y.T, n_h=4, num_iterations=1500)
    pr, _ = rows.train(X, y, n_h=4, num_iterations=1500)
    assert costs[-1] < costs[0] - 0.2
    acc = float(np.mean(columns.predict(pc, X.T) == y.T))
    assert acc > 0.8
    assert _worst({k: pc[k] for k in pr}, pr) < 1e-9  # the same arithmetic, transposed


def test_unknown_activation():
    params = columns.initialize_parameters(2, 3)
    with pytest.raises(ValueError, match="unknown activation"):
        columns.forward_propagation(np.ones((2, 1)), params, "swish")


# -- the L-layer network and the delta recursion -------------------------------------------------

def _engine_deep(params, X_cols, Y_cols, acts, loss):
    L = len(acts)
    A = cr.tensor(X_cols.T)
    Ws, bs, Zs = [], [], []
    for k in range(1, L + 1):
        W = cr.tensor(params[f"W{k}"], requires_grad=True)
        b = cr.tensor(params[f"b{k}"].ravel(), requires_grad=True)
        Z = (A @ W.T + b).retain_grad()
        A = {"relu": cr.relu, "tanh": cr.tanh, "sigmoid": cr.sigmoid,
             "identity": lambda z: z}[acts[k - 1]](Z)
        Ws.append(W)
        bs.append(b)
        Zs.append(Z)
    m = X_cols.shape[1]
    y = cr.tensor(Y_cols.T)
    if loss == "cross_entropy":
        J = -(y * A.log() + (1 - y) * (1 - A).log()).sum() / m
    else:
        J = 0.5 * ((A - y) ** 2).sum() / m
    J.backward()
    return J.item(), Ws, bs, Zs


@pytest.mark.parametrize("dims,hidden,output,loss", [
    ([2, 3, 1], "relu", "sigmoid", "cross_entropy"),
    ([4, 6, 5, 3], "tanh", "sigmoid", "squared_error"),
    ([3, 5, 4, 4, 2], ["relu", "sigmoid", "tanh"], "identity", "squared_error"),
    ([5, 8, 8, 1], "sigmoid", "tanh", "squared_error"),
    ([3, 4, 2], "tanh", "sigmoid", "cross_entropy"),
])
def test_delta_recursion_matches_engine(dims, hidden, output, loss):
    rng = np.random.default_rng(len(dims) * 10 + dims[-1])
    params = deep.initialize_parameters(dims, seed=3)
    for k in range(1, len(dims)):
        params[f"b{k}"] = 0.1 * rng.normal(size=params[f"b{k}"].shape)
    m = 11
    X = rng.normal(size=(dims[0], m))
    Y = (rng.random((dims[-1], m)) < 0.5).astype(np.float64)
    AL, cache = deep.forward(X, params, hidden, output)
    grads = deep.backward(Y, params, cache, hidden, output, loss)
    acts = ([hidden] * (len(dims) - 2) if isinstance(hidden, str) else hidden) + [output]
    J, Ws, bs, Zs = _engine_deep(params, X, Y, acts, loss)
    assert abs(deep.cost(AL, Y, loss) - J) < TOL
    for k in range(1, len(dims)):
        assert np.max(np.abs(grads[f"dW{k}"] - Ws[k - 1].grad)) < TOL
        assert np.max(np.abs(grads[f"db{k}"].ravel() - bs[k - 1].grad)) < TOL
        # delta[l] is per example; the engine's dJ/dZ carries the 1/m of the mean cost
        assert np.max(np.abs(grads[f"delta{k}"] - m * Zs[k - 1].grad.T)) < TOL


def test_zero_weights_stop_the_hidden_gradients():
    # The seed: "if the weights start at 0, every gradient behind the hidden layer is 0".
    params = deep.initialize_parameters([2, 3, 1], scale=0.0)
    X = np.random.default_rng(0).normal(size=(2, 5))
    _, cache = deep.forward(X, params, "tanh", "sigmoid")
    grads = deep.backward(np.ones((1, 5)), params, cache, "tanh", "sigmoid")
    assert not grads["dW1"].any() and not grads["delta1"].any()
    assert grads["db2"][0, 0] == pytest.approx(-0.5)  # a2 = sigmoid(0) = 1/2, y = 1


# -- the three-layer squared-error network -------------------------------------------------------

@pytest.mark.parametrize("D,H,C,N", [(2, 3, 2, 5), (4, 7, 3, 20), (6, 2, 5, 9)])
def test_three_layer_grads_are_the_true_gradients(D, H, C, N):
    rng = np.random.default_rng(D * H * C)
    net = textbook.ThreeLayerNet(D, H, C, std=0.8, seed=N)
    net.params["b1"] = rng.normal(size=H)
    net.params["b2"] = rng.normal(size=C)
    X = rng.normal(size=(N, D))
    y = rng.integers(0, C, size=N)
    loss, grads = net.loss(X, y)

    h = nn.Linear(D, H, dtype=np.float64)
    o = nn.Linear(H, C, dtype=np.float64)
    h.weight.data[...] = net.params["W1"].T  # the seed's W1 (D, H) is nn's weight transposed
    h.bias.data[...] = net.params["b1"]
    o.weight.data[...] = net.params["W2"].T
    o.bias.data[...] = net.params["b2"]
    t = np.eye(C)[y]
    z = o(h(cr.tensor(X)).sigmoid()).sigmoid()
    J = ((cr.tensor(t) - z) ** 2).sum() / N
    J.backward()
    assert abs(loss - J.item()) < TOL
    assert np.max(np.abs(grads["W1"] - h.weight.grad.T)) < TOL
    assert np.max(np.abs(grads["b1"] - h.bias.grad)) < TOL
    assert np.max(np.abs(grads["W2"] - o.weight.grad.T)) < TOL
    assert np.max(np.abs(grads["b2"] - o.bias.grad)) < TOL

    # The linked repository's formula (no factor 2) gives exactly half of that gradient.
    zk = net.loss(X)
    repo_delta_k = (zk - t) * zk * (1 - zk)
    yj = cr.sigmoid(cr.tensor(X @ net.params["W1"] + net.params["b1"])).data
    repo_dW2 = yj.T @ repo_delta_k / N
    assert np.allclose(repo_dW2, grads["W2"] / 2, atol=1e-13, rtol=0)


def test_three_layer_gradcheck():
    net = textbook.ThreeLayerNet(3, 4, 2, seed=1)
    X = np.random.default_rng(2).normal(size=(6, 3))
    y = np.array([0, 1, 1, 0, 1, 0])
    _, grads = net.loss(X, y)
    eps = 1e-6
    for k, p in net.params.items():
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = net.loss(X, y)[0]
            p[idx] = old - eps
            down = net.loss(X, y)[0]
            p[idx] = old
            assert abs((up - down) / (2 * eps) - grads[k][idx]) < 1e-8


def test_three_layer_constant_init_stays_symmetric():
    # The seed's section 4: all w = 1 -> the hidden units stay equal for the whole run.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    net = textbook.ThreeLayerNet(2, 4, 2, init_value=1.0)
    net.train(X, y, learning_rate=2.0, num_iters=200)
    W1 = net.params["W1"]
    assert np.allclose(W1, W1[:, :1], rtol=0, atol=1e-12)  # every hidden column is the same
    assert net.predict(X).shape == (80,)
