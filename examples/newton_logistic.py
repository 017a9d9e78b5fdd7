"""Logistic regression trained two ways: gradient descent, and Newton's method with a Hessian
computed by chainrule (a gradient of a gradient), both checked against scikit-learn.

Data: iris, versicolor (0) against virginica (1), the four measurements standardised.  (Two
classes that overlap, so the unregularised solution is finite; breast cancer's classes can be
split by a plane, so its unregularised weights grow without bound.)

The model is p = sigmoid(X theta), with a column of ones in X for the intercept, and the loss
the mean log-loss J(theta) = mean(log(1 + e^z) - y z), z = X theta.

- Gradient descent steps theta <- theta - lr dJ/dtheta: cheap steps, slow near the end.
- Newton's method steps theta <- theta - H^-1 dJ/dtheta, with H the matrix of second
  derivatives d^2 J / dtheta_i dtheta_j from cr.functional.hessian: each row of H is the
  gradient of one entry of the gradient (chainrule builds the gradient with create_graph=True
  and differentiates it again).  A handful of steps reaches scikit-learn's solution to 1e-6.

    python examples/newton_logistic.py
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import chainrule as cr


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """Iris versicolor (0) against virginica (1): standardised features, and the labels."""
    X, y = load_iris(return_X_y=True)
    keep = y > 0
    return StandardScaler().fit_transform(X[keep]), (y[keep] == 2).astype(np.float64)


def with_intercept(X: np.ndarray) -> np.ndarray:
    """X with a column of ones in front, so theta[0] is the intercept."""
    return np.hstack([np.ones((len(X), 1)), X])


def mean_log_loss(theta: cr.Tensor, X1: np.ndarray, y: np.ndarray) -> cr.Tensor:
    """J(theta) = mean(log(1 + e^z) - y z), z = X1 theta: the log-loss of sigmoid(z)."""
    z = cr.tensor(X1) @ theta
    return ((1.0 + z.exp()).log() - cr.tensor(y) * z).mean()


def gradient_and_hessian(theta: np.ndarray, X1: np.ndarray, y: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """dJ/dtheta and the Hessian d^2J/dtheta^2 at theta, both from chainrule.

    cr.functional.hessian (torch.autograd.functional.hessian's API) builds the gradient with
    create_graph=True, so the gradient is itself a computation, and differentiates it again.
    """
    t = cr.tensor(theta, requires_grad=True)
    (g,) = cr.grad(mean_log_loss(t, X1, y), t)
    H = cr.functional.hessian(lambda th: mean_log_loss(th, X1, y), cr.tensor(theta))
    return g.data, H.data


def newton(X1: np.ndarray, y: np.ndarray, tol: float = 1e-10, max_steps: int = 20
           ) -> tuple[np.ndarray, list[float]]:
    """Newton's method from theta = 0; returns theta and the gradient's norm at each step."""
    theta = np.zeros(X1.shape[1])
    norms = []
    for _ in range(max_steps):
        g, H = gradient_and_hessian(theta, X1, y)
        norms.append(float(np.linalg.norm(g)))
        if norms[-1] < tol:
            break
        theta = theta - np.linalg.solve(H, g)
    return theta, norms


def gradient_descent(X1: np.ndarray, y: np.ndarray, lr: float = 2.0,
                     checkpoints: tuple[int, ...] = (10, 100, 1000, 10000)
                     ) -> dict[int, np.ndarray]:
    """Plain gradient descent from theta = 0 with chainrule's first-order gradients; theta
    after each number of steps in ``checkpoints``."""
    theta = cr.tensor(np.zeros(X1.shape[1]), requires_grad=True)
    seen = {}
    for step in range(1, max(checkpoints) + 1):
        theta.grad = None
        mean_log_loss(theta, X1, y).backward()
        with cr.no_grad():
            theta.data -= lr * theta.grad
        if step in checkpoints:
            seen[step] = theta.data.copy()
    return seen


def sklearn_solution(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """scikit-learn's unregularised fit (C=inf), intercept first, solved to tight tolerance."""
    lr = LogisticRegression(C=np.inf, solver="newton-cg", tol=1e-12, max_iter=1000).fit(X, y)
    return np.concatenate([lr.intercept_, lr.coef_.ravel()])


def main() -> None:
    X, y = load_data()
    X1 = with_intercept(X)
    ref = sklearn_solution(X, y)
    print(f"iris versicolor vs virginica: {X.shape[0]} samples, {X.shape[1]} standardised "
          "features + intercept")
    print("scikit-learn (C=inf):  theta =", np.array2string(ref, precision=6))

    print("\nNewton's method, Hessian from cr.functional.hessian (gradient of the gradient):")
    theta, norms = newton(X1, y)
    for i, n in enumerate(norms):
        print(f"  step {i}: |dJ/dtheta| = {n:.3e}")
    print(f"  {len(norms) - 1} steps: theta =", np.array2string(theta, precision=6))
    print(f"  distance to scikit-learn: {np.linalg.norm(theta - ref):.2e}")

    print("\ngradient descent, lr 2, first-order gradients from chainrule:")
    for steps, gd in gradient_descent(X1, y).items():
        print(f"  {steps:>5} steps: distance to scikit-learn {np.linalg.norm(gd - ref):.2e}")

if __name__ == "__main__":
    main()
