"""What a peer is: the interface every library's trainer implements, and its shared helpers.

A peer's ``train(wl, weights, n, epochs, batches)`` trains from ``weights`` on the first ``n``
examples of the data given to ``prepare`` and returns ``(seconds, final_weights)``.  Only the
training loop is timed: building the model and copying the initial weights are not.
``available(wl)`` says why a peer cannot run a workload (None when it can); ``why_not(peer,
wl)`` adds the rule that only peers declaring ``sequences = True`` run the sequence models.
``device`` is where the peer trains ('cpu' unless ``bench/run.py --device`` says otherwise).
"""

from __future__ import annotations

import numpy as np

from .workloads import Weights, Workload


class Peer:
    name = ""
    label = ""
    sequences = False     # builds the sequence models of bench/sequences.py (W7, W8)
    devices: tuple[str, ...] = ("cpu",)   # where this peer can train
    device = "cpu"

    def missing_device(self) -> str | None:
        """Why this process cannot train on ``self.device`` (None when it can): checked by the
        runner before anything is timed, so ``--device cuda`` on a machine without a GPU stops
        at once with the reason."""
        if self.device not in self.devices:
            return f"the {self.name} peer runs on {', '.join(self.devices)} only"
        return None

    def available(self, wl: Workload) -> str | None:
        """None when this peer can train ``wl``, else why it is skipped."""
        return None

    def prepare(self, wl: Workload, X: np.ndarray, y: np.ndarray) -> None:
        self.X, self.y = X, y

    def train(self, wl: Workload, weights: Weights, n: int, epochs: int,
              batches: list | None) -> tuple[float, Weights]:
        raise NotImplementedError


def why_not(peer: Peer, wl: Workload) -> str | None:
    """Why ``peer`` cannot train ``wl`` (None when it can)."""
    if wl.sequence and not peer.sequences:
        return f"the {peer.name} peer has no sequence models (GRU, transformer) yet"
    if peer.device not in peer.devices:
        return f"the {peer.name} peer runs on {', '.join(peer.devices)} only"
    return peer.available(wl)


def sequence_loss(cross_entropy):
    """The loss of the sequence models: logits come as (N*12, 27) rows, labels as (N, 12)."""
    return lambda logits, y: cross_entropy(logits, y.reshape(-1))


def pairs(arrays: list[np.ndarray]) -> Weights:
    """Parameters in model order, two per layer (weight and bias, or gamma and beta)."""
    return [(arrays[i].copy(), arrays[i + 1].copy()) for i in range(0, len(arrays), 2)]
