"""Time-series regression with an LSTM: predict the next value of a noisy sum of two sines
from the 30 values before it, trained with cr.fit.

    python examples/time_series.py
"""

from __future__ import annotations

import numpy as np

import chainrule as cr
from chainrule import nn

WINDOW = 30


def series(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n)
    return np.sin(0.07 * t) + 0.5 * np.sin(0.23 * t + 1.0) + 0.05 * rng.normal(size=n)


def windows(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.lib.stride_tricks.sliding_window_view(s[:-1], WINDOW)[..., None]  # (N, 30, 1)
    return np.ascontiguousarray(X), s[WINDOW:].reshape(-1, 1)


class NextValue(nn.Module):
    """LSTM over the window, then a Linear on its last state."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1, rng=0)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        states, _ = self.lstm(x)
        return self.head(states[:, -1])


def main(epochs: int = 15) -> dict[str, float]:
    rng = np.random.default_rng(0)
    s = series(1600, rng)
    X, y = windows(s)
    split = int(0.8 * len(X))
    model = NextValue()
    cr.fit(model, X[:split], y[:split], loss="mse", epochs=epochs, batch_size=32,
           optimizer="adam", lr=0.01, seed=0, verbose=0)
    result = cr.evaluate(model, X[split:], y[split:], loss="mse")
    naive = float(np.mean((X[split:, -1, 0] - y[split:, 0]) ** 2))  # "tomorrow = today"
    print(f"test MSE {result['loss']:.4f}; repeating the last value: {naive:.4f}; "
          f"noise floor {0.05 ** 2:.4f}")
    return {**result, "naive": naive}


if __name__ == "__main__":
    main()
