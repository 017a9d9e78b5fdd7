"""The peers, each training a workload the way a user of that library would: the table of them.

All peers see the same minibatches (``batches``, index arrays reshuffled every epoch) except
scikit-learn, which shuffles with its own generator.  What a peer must do: ``bench/peer.py``.

* ``chainrule``, ``chainrule-compiled``, ``chainrule-fit``: ``bench/chainrule_peer.py``.
* ``torch``, ``torch-cl`` (channels_last conv nets): PyTorch eager, ``bench/torch_peer.py``.
* ``jax``, ``jax-epoch``: ``bench/jax_peer.py``.
* ``sklearn``: ``MLPClassifier``, ``bench/sklearn_peer.py``.
* ``numpy``: a hand-written vectorised MLP, ``bench/numpy_peer.py``.
"""

from __future__ import annotations

from .chainrule_peer import ChainruleCompiledPeer, ChainruleFitPeer, ChainrulePeer
from .jax_peer import JaxEpochPeer, JaxPeer
from .numpy_peer import NumpyPeer
from .peer import Peer, why_not
from .sklearn_peer import SklearnPeer
from .torch_peer import TorchChannelsLastPeer, TorchPeer

__all__ = ["NAMES", "PEERS", "ChainruleCompiledPeer", "ChainruleFitPeer", "ChainrulePeer",
           "JaxEpochPeer", "JaxPeer", "NumpyPeer", "Peer", "SklearnPeer", "TorchChannelsLastPeer",
           "TorchPeer", "get", "why_not"]

PEERS: dict[str, type[Peer]] = {c.name: c for c in (
    ChainrulePeer, ChainruleCompiledPeer, ChainruleFitPeer, TorchPeer, TorchChannelsLastPeer,
    JaxPeer, JaxEpochPeer, NumpyPeer, SklearnPeer)}
"""Every peer by name, in the order tables list them."""

NAMES = tuple(PEERS)


def get(name: str, device: str = "cpu") -> Peer:
    """The peer called ``name`` (a fresh object) training on ``device``; KeyError listing the
    names in ``NAMES`` otherwise.

    >>> get("numpy").name, get("torch", "cuda").device
    ('numpy', 'cuda')
    """
    if name not in PEERS:
        raise KeyError(f"unknown peer {name!r}; choose from {', '.join(NAMES)}")
    peer = PEERS[name]()
    peer.device = device
    return peer
