"""A small conv net on scikit-learn's 8x8 digits, trained with cr.fit (seconds on a laptop).

cr.fit takes table rows, so the net starts with Unflatten: (N, 64) rows become (N, 1, 8, 8)
images.  Run: ``python examples/digits_cnn.py``.
"""

from __future__ import annotations

import numpy as np

try:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
except ImportError:  # the environment of the README's first command has no scikit-learn
    raise SystemExit("this example uses scikit-learn: pip install 'chainrule[sklearn]'") from None

import chainrule as cr
from chainrule import nn
from chainrule.nn.conv import Conv2d
from chainrule.nn.layers import Flatten, Unflatten
from chainrule.nn.pooling import MaxPool2d


def main() -> None:
    digits = load_digits()
    X, y = (digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, shuffle=True,
                                                        random_state=0, stratify=y)
    model = nn.Sequential(Unflatten(1, (1, 8, 8)),
                          Conv2d(1, 16, 3, padding=1, rng=0), nn.ReLU(), MaxPool2d(2),
                          Conv2d(16, 32, 3, padding=1, rng=1), nn.ReLU(), MaxPool2d(2),
                          Flatten(), nn.Linear(32 * 2 * 2, 10, rng=2))
    print(model)
    cr.fit(model, X_train, y_train, loss="cross_entropy", optimizer="adam", lr=2e-3,
           epochs=30, batch_size=32, seed=0, verbose=0)
    with cr.no_grad():
        accuracy = (model.eval()(X_test).data.argmax(axis=1) == y_test).mean()
    print(f"test accuracy: {accuracy:.4f} on {len(y_test)} held-out digits")


if __name__ == "__main__":
    main()
