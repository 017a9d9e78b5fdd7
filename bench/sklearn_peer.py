"""scikit-learn's ``MLPClassifier`` with the same architecture, batch size, optimizer and learning
rate, no L2 penalty, no early stopping, float32 input; initial weights set by warm start.  It
shuffles with its own generator (same sizes, same number of steps)."""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np

from .peer import Peer


class SklearnPeer(Peer):
    name = "sklearn"
    label = "scikit-learn MLPClassifier (float32 input)"

    def available(self, wl):
        if wl.net != "mlp":
            return "MLPClassifier has no conv layers"
        if importlib.util.find_spec("sklearn") is None:
            return "scikit-learn is not installed"
        return None

    def prepare(self, wl, X, y):
        super().prepare(wl, X, y)
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        self.MLP = MLPClassifier
        self.ConvergenceWarning = ConvergenceWarning
        self.labels = y.reshape(-1).astype(np.int64)
        self.classes = np.unique(self.labels)

    def train(self, wl, weights, n, epochs, batches):
        hidden = tuple(W.shape[0] for W, _ in weights[:-1])
        kw = dict(
            hidden_layer_sizes=hidden, activation=wl.hidden, solver=wl.optimizer,
            alpha=0.0, batch_size=wl.batch, learning_rate="constant",
            learning_rate_init=wl.lr, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 10,
            shuffle=batches is not None, random_state=0, warm_start=True,
            early_stopping=False,
        )
        if wl.optimizer == "sgd":
            kw.update(momentum=0.0, nesterovs_momentum=False)
        clf = self.MLP(**kw)
        X, y = self.X[:n], self.labels[:n]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            # One partial_fit sets every fitted attribute; then install the shared weights.
            clf.partial_fit(X[: wl.batch], y[: wl.batch], classes=self.classes)
            clf.coefs_ = [np.array(W.T, order="C") for W, _ in weights]   # always a copy
            clf.intercepts_ = [b.copy() for _, b in weights]
            del clf._optimizer   # fit() builds a fresh optimizer (no Adam state carried over)
            t0 = time.perf_counter()
            clf.fit(X, y)
            seconds = time.perf_counter() - t0
        return seconds, [(W.T.copy(), b.copy()) for W, b in zip(clf.coefs_, clf.intercepts_)]
