"""A training run's output folder: the files a run writes there (:func:`run_outputs`), the
checks that no output replaces an input (:func:`check_outputs`, :func:`refuse_overwrite`,
:func:`same_file`) and the lock that lets one run at a time write there (:class:`RunLock`).

>>> sorted(run_outputs("runs/x"))[:2]
['confusion matrix plot', 'decision boundary plot']
"""

from __future__ import annotations

import contextlib
import os

from .data.diagnosis import quote
from .errors import ConfigError
from .io import writes_to
from .job import TrainConfig

__all__ = ["HISTORY_FILE", "LOCK_FILE", "MODEL_FILE", "PLOT_FILES", "RunLock", "check_outputs",
           "refuse_overwrite", "run_outputs", "same_file"]

MODEL_FILE = "model.safetensors"
HISTORY_FILE = "history.csv"
PLOT_FILES = {"loss": "loss.png", "decision boundary": "decision_boundary.png",
              "confusion matrix": "confusion_matrix.png"}
LOCK_FILE = ".chainrule-run.lock"


def run_outputs(out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The files a training run writes into ``out_dir``, by what they hold."""
    names = {"model file": MODEL_FILE, "training history": HISTORY_FILE,
             **{f"{what} plot": name for what, name in PLOT_FILES.items()},
             "lock file": LOCK_FILE}
    return {what: os.path.join(os.fspath(out_dir), name) for what, name in names.items()}


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: the same file where both exist (links and
    other spellings included), else the same absolute path once links are resolved."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one does not exist yet: compare where the names lead
        try:
            return os.path.normcase(os.path.realpath(a)) == os.path.normcase(
                os.path.realpath(b))
        except (OSError, ValueError):
            return False


def refuse_overwrite(option: str, path: str | os.PathLike[str],
                     inputs: dict[str, str | os.PathLike[str] | None]) -> None:
    """ConfigError when the file ``option`` names, ``path``, is one of ``inputs`` (what it
    is: its name): writing it would replace that file."""
    for what, other in inputs.items():
        if isinstance(other, (str, os.PathLike)) and same_file(path, other):
            raise ConfigError(f"{option} {quote(os.fspath(path))} is {what}; writing it would "
                              f"replace that file: pass another {option}")


def check_outputs(cfg: TrainConfig, out_dir: str) -> None:
    """Refuse a ``--checkpoint`` that is one of the run's own outputs in ``out_dir`` (each
    would silently replace the other), and any output that is the ``--data`` file."""
    outputs = [(path, f"the {what} of this run") for what, path in run_outputs(out_dir).items()]
    if cfg.checkpoint is not None:
        for path, what in outputs:
            if same_file(cfg.checkpoint, path):
                raise ConfigError(
                    f"--checkpoint {quote(os.fspath(cfg.checkpoint))} is {what} "
                    f"({quote(path)}); one would overwrite the other: pass another file, "
                    f"e.g. --checkpoint {os.path.join(out_dir, 'checkpoint.safetensors')}")
        outputs.append((os.fspath(cfg.checkpoint), "the --checkpoint file"))
    for path, what in outputs:
        refuse_overwrite("--out" if what.endswith("of this run") else "--checkpoint", path,
                         {"the --data file": cfg.data})


class RunLock:
    """The lock file of an output folder: one training run writes into it at a time.

    :meth:`acquire` creates ``<folder>/.chainrule-run.lock`` holding this process's id and
    locks it (``flock``); the lock ends with :meth:`release` or with the process, so a run
    killed with ``kill -9`` leaves a file that the next run takes over (``note`` says so).
    A second live run is refused with a ConfigError naming the folder and the first run's
    process id.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, LOCK_FILE)
        self.note: str | None = None
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the folder (creating it); ConfigError when another live run holds it."""
        with writes_to(self.path):
            os.makedirs(self.folder, exist_ok=True)
            try:
                import fcntl
            except ImportError:  # no flock (Windows): the file's existence is the lock
                self._fd = self._create()
                return self
            while self._fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _pid_in(fd)
                    os.close(fd)
                    raise self._busy(holder) from None
                try:  # the file locked may be one its last holder had just removed
                    current = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    current = False
                if not current:
                    os.close(fd)
                    continue
                stale = _pid_in(fd)
                if stale is not None:
                    self.note = (f"took over the lock of {self.folder} from process {stale}, "
                                 "a run that ended without releasing it")
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
                self._fd = fd
        return self

    def _create(self) -> int:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise self._busy(_pid_in(self.path), f"; if no run is writing there, delete "
                                                 f"{self.path}") from None
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        return fd

    def _busy(self, holder: int | None, hint: str = "") -> ConfigError:
        who = f"(process {holder}) " if holder is not None else ""
        return ConfigError(f"another chainrule run {who}is writing to {quote(self.folder)} "
                           f"(it holds {LOCK_FILE}); wait for it to end or pass another "
                           f"--out{hint}")

    def release(self) -> None:
        """Remove the lock file and unlock; a no-op when not held."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # before unlocking: a waiting run then locks a new file
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pid_in(file: int | str) -> int | None:
    """The process id a lock file holds (None when empty or unreadable)."""
    try:
        if isinstance(file, int):
            text = os.pread(file, 32, 0)
        else:
            with open(file, "rb") as f:
                text = f.read(32)
    except OSError:
        return None
    digits = text.strip()
    return int(digits) if digits.isdigit() else None
