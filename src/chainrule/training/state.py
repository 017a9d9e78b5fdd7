"""Where a training run stands: :class:`RunState` and the :class:`Position` inside an epoch.

The :class:`~chainrule.training.Trainer` owns one RunState; the epoch loop moves it forward
(:meth:`RunState.end_epoch`, :meth:`RunState.stop`), callbacks read it through the trainer
(``trainer.epoch``, ``trainer.stop_training``), and a checkpoint saves and restores it whole
(:meth:`RunState.to_dict`, :meth:`RunState.load_dict`).  Nothing else writes its fields.

>>> state = RunState.from_seed(0)
>>> state.begin(3); state.end_epoch(); state.stop("early stop: enough")
>>> state.epoch, state.epochs, state.stop_training, state.stop_reason
(1, 3, True, 'early stop: enough')
>>> again = RunState.from_seed(1); again.load_dict(state.to_dict())
>>> again.epoch, again.seed == state.seed
(1, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, Option, OptionWarning
from .guard import literal
from .history import History
from .targets import TargetScaler

__all__ = ["DataRecord", "Position", "RunState"]


@dataclass
class Position:
    """Where training stands inside an epoch: the next ``batch``, the generator state the
    epoch's order was drawn from (``rng``), the epoch's learning rate, the rows and batch size
    the epoch walks, and the running sums of its metrics (``tally``, see
    :class:`~chainrule.training.tally.Tally`).

    >>> p = Position(batch=1, rng={}, lr=0.1)
    >>> Position.from_dict(p.to_dict()) == p
    True
    """

    batch: int
    rng: dict[str, Any]
    lr: float
    samples: int = 0
    batch_size: int = 0
    tally: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as a checkpoint stores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Position:
        """The inverse of :meth:`to_dict` (a checkpoint's fields are checked before)."""
        return cls(int(d["batch"]), d["rng"], float(d["lr"]), int(d.get("samples", 0)),
                   int(d.get("batch_size", 0)), d.get("tally"))


@dataclass(frozen=True)
class DataRecord:
    """The data a run trains on, as a checkpoint records it: rows and global batch size
    (over every rank) and a cheap fingerprint of the rows."""

    rows: int
    batch_size: int
    fingerprint: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> DataRecord | None:
        return None if d is None else cls(int(d["rows"]), int(d["batch_size"]),
                                          int(d["fingerprint"]))


def _generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The validation split's and the shuffling's generators, both drawn from ``seed``."""
    split_seq, shuffle_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(split_seq), np.random.default_rng(shuffle_seq)


@dataclass
class RunState:
    """Everything about a run that changes while it trains (the settings stay in the
    :class:`~chainrule.training.config.TrainConfig`).

    ``epoch`` counts the epochs completed; ``epochs`` is the count the current ``fit`` runs up
    to and ``epochs_run`` how many it ran.  ``stop_training`` asks the loop to stop after the
    current epoch, with ``stop_reason`` saying why; ``interrupted`` says Ctrl-C ended the run;
    ``nonfinite`` records where the non-finite guard stopped it and ``warning`` holds the
    guard's warning.  ``stop_notice``, when set, is ``stop_reason`` as an
    :class:`~chainrule.errors.OptionWarning`: the same text, with the arguments it names
    kept as data so a command line can spell them as its flags.
    """

    seed: int
    split_rng: np.random.Generator
    rng: np.random.Generator  # shuffles the rows every epoch
    history: History = field(default_factory=History)
    epoch: int = 0
    epochs: int = 0
    epochs_run: int = 0
    stop_training: bool = False
    stop_reason: str | None = None
    interrupted: bool = False
    nonfinite: dict[str, Any] | None = None
    warning: OptionWarning | None = None
    stop_notice: OptionWarning | None = None
    position: Position | None = None
    stop_requested: bool = False  # the first Ctrl-C: stop after this step
    in_step: bool = False  # inside an update, where a second Ctrl-C tears the model
    target_scaler: TargetScaler | None = None
    target_folded: bool = False  # whether the scaler's inverse sits in the last layer
    data: DataRecord | None = None  # what this run trains on
    resumed_data: DataRecord | None = None  # the same, of a loaded checkpoint
    resumed_from: str | None = None  # the checkpoint file this run continues

    @classmethod
    def from_seed(cls, seed: int | None) -> RunState:
        """A fresh run whose random sources come from ``seed`` (None: from the OS)."""
        entropy = np.random.SeedSequence(seed).entropy
        return cls(entropy, *_generators(entropy))

    # -- one fit ------------------------------------------------------------------------------
    def begin(self, epochs: int) -> None:
        """Start a ``fit`` of ``epochs`` more epochs: clear what the previous one decided."""
        self.epochs = self.epoch + epochs
        self.epochs_run = 0
        self.stop_training = self.interrupted = self.stop_requested = False
        self.stop_reason = self.nonfinite = self.warning = self.stop_notice = None

    def end_epoch(self, count: int = 1) -> None:
        """One more epoch completed (or ``count`` more)."""
        self.epoch += count
        self.epochs_run += count

    @property
    def running(self) -> bool:
        """Whether the loop should start another epoch."""
        return self.epoch < self.epochs and not self.stop_training

    def stop(self, reason: str | None = None) -> None:
        """Stop after the current epoch (because of ``reason``, when given)."""
        self.stop_training = True
        if reason is not None:
            self.stop_reason = reason

    def _stop_with(self, notice: OptionWarning) -> None:
        self.stop_notice = notice
        self.stop(str(notice))

    def stop_nonfinite(self, epoch: int, batch: int, what: str,
                       warning: OptionWarning) -> None:
        """Stop because the guard found ``what`` in step ``batch`` of ``epoch`` (from 0);
        ``warning`` is its message, given to the user when training ends."""
        self.nonfinite = {"epoch": epoch + 1, "batch": batch + 1, "what": what}
        self.warning = warning
        self._stop_with(OptionWarning("stopped: " + warning.template, **warning.options))

    def interrupt(self) -> None:
        """Ctrl-C ended the run."""
        self.interrupted = True
        self.stop_reason = "interrupted with Ctrl-C"

    def checkpoint_saved(self, path: str) -> None:
        """Say in the stop reason of an interrupted run where its checkpoint is, and how to
        continue from it."""
        if self.interrupted:
            self._stop_with(OptionWarning(
                literal(f"{self.stop_reason}; checkpoint saved to {path}") +
                " (resume with {resume})", resume=Option("resume", True)))

    def request_stop(self) -> bool:
        """The first Ctrl-C asks to stop after the current step; returns whether one had been
        asked already (then the second one interrupts at once)."""
        asked, self.stop_requested = self.stop_requested, True
        return asked

    # -- the data and its targets ----------------------------------------------------------------
    def scale_targets(self, y: np.ndarray, layer: Any,
                      total: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``y`` standardised for training.  The first fit fits the scaler (``total`` sums
        over every rank); a later one takes the inverse an earlier fit folded into ``layer``
        out of it again."""
        if self.target_scaler is None:
            self.target_scaler = TargetScaler.fit(y, total)
        elif self.target_folded:
            self.target_scaler.unfold(layer)
        self.target_folded = False
        return self.target_scaler.transform(y)

    @property
    def targets_unfolded(self) -> bool:
        """Whether standardised targets are in use and their inverse is not yet in the model."""
        return self.target_scaler is not None and not self.target_folded

    def fold_targets(self, layer: Any) -> None:
        """Fold the target scaler's inverse into ``layer`` (the model's last Linear), so the
        model predicts in the target's units."""
        if self.targets_unfolded:
            assert self.target_scaler is not None
            self.target_scaler.fold(layer)
            self.target_folded = True

    def record_data(self, record: DataRecord, rows: int, batch_size: int) -> None:
        """Note what this run trains on (``rows`` and ``batch_size`` on this rank, ``record``
        over every rank); ConfigError when a resumed checkpoint's run trained on other data
        or with another batch size."""
        self.data = record
        pos = self.position
        if pos is not None and (pos.samples, pos.batch_size) != (rows, batch_size):
            raise ConfigError(f"fit: the checkpoint stopped inside an epoch of {pos.samples} "
                              f"training examples in batches of {pos.batch_size}; this call "
                              f"has {rows} in batches of {batch_size}. Resume with the same "
                              "data, split and batch size")
        saved, self.resumed_data = self.resumed_data, None
        if saved is None or saved == record:
            return
        self.resumed_data = saved  # still to be matched by the next fit
        if (saved.rows, saved.batch_size) != (record.rows, record.batch_size):
            raise ConfigError(f"fit: the checkpoint's run trained on {saved.rows} rows in "
                              f"batches of {saved.batch_size}; this call has {record.rows} "
                              f"rows in batches of {record.batch_size}. Resume with the same "
                              "data, split and batch size, or start afresh without resume")
        raise ConfigError(f"fit: the checkpoint's run trained on other data (the same "
                          f"{record.rows} rows and batch size, but other values). Resume "
                          "with the same data and split, or start afresh without resume")

    # -- saving and restoring -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's fields of the run (JSON-ready)."""
        return {"rng": self.rng.bit_generator.state, "seed": self.seed, "epoch": self.epoch,
                "history": self.history.to_dict(),
                "position": None if self.position is None else self.position.to_dict(),
                "data": None if self.data is None else self.data.to_dict(),
                "target_scaler": None if self.target_scaler is None
                else self.target_scaler.to_dict(),
                "target_folded": self.target_folded}

    def load_dict(self, state: dict[str, Any]) -> None:
        """Continue the run :meth:`to_dict` saved."""
        self.rng.bit_generator.state = state["rng"]
        if state.get("seed") is not None and state["seed"] != self.seed:
            # the validation split is drawn from the seed: draw it as the saved run did
            self.seed = state["seed"]
            self.split_rng = _generators(self.seed)[0]
        self.epoch = int(state["epoch"])
        self.history = History.from_dict(state["history"])
        pos = state.get("position")
        self.position = None if pos is None else Position.from_dict(pos)
        self.data = self.resumed_data = DataRecord.from_dict(state.get("data"))
        scaler = state.get("target_scaler")
        self.target_scaler = None if scaler is None else TargetScaler.from_dict(scaler)
        self.target_folded = bool(state.get("target_folded", False))
