"""MPI's side of distributed training: :class:`MPICommunicator`, and :func:`run`, which
turns an error on one rank into the end of the whole job."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Sequence
from time import perf_counter, sleep
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..errors import DistributedError
from ..optim.optimizer import grad_array
from .communicator import AGREED, Communicator, Reduced, agreed

__all__ = ["MPICommunicator", "communicator", "run", "world"]

T = TypeVar("T")


def world() -> Any:
    """MPI's COMM_WORLD (imports mpi4py on first use, with a clear error where it is absent)."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError(
            "distributed training needs mpi4py and an MPI library: pip install 'chainrule[mpi]' "
            "(mpi4py and mpich from PyPI), then start with mpiexec -n N ..."
        ) from None
    return MPI.COMM_WORLD


class MPICommunicator(Communicator):
    """:class:`Communicator` over an MPI communicator (COMM_WORLD by default)."""

    _KINDS: ClassVar[dict[str, int]] = {"gradient": 1, "metric": 2, "count": 3, "gather": 4,
                                        "agreement": 5, "parameter broadcast": 6, "end": 7}
    _DTYPES: ClassVar[dict[str, int]] = {"float64": 1, "float32": 2, "float16": 3}

    def __init__(self, comm: Any = None) -> None:
        self.comm = world() if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.allreduce_seconds = 0.0
        self._count = 0
        self._described: list[tuple[tuple[int, ...], str]] = []
        self._params: list[Any] = []  # the model being trained, compared across ranks at the end
        self._head = np.empty(8)
        self._head_out = np.empty(8)
        self._send: np.ndarray | None = None
        self._recv: np.ndarray | None = None

    # -- keeping ranks in step ------------------------------------------------------------
    def _enter(self, kind: str, n: int = 0, dtype: Any = None, signature: int = 0) -> None:
        """Check, before any payload moves, that every rank enters the same collective (its
        kind and running count) with as many values of the same dtype (and, for a parameter
        broadcast, the same parameter shapes): ranks out of step raise DistributedError on
        every rank, where a payload of another size would make MPI truncate a message or wait
        forever, and one of the same size would mix metrics into gradients.

        One Allreduce (MAX) of [x, -x]: every rank sent the same x exactly when max(x) equals
        min(x).  It costs about 7 microseconds a collective on 2 ranks of one machine (a
        gradient step of a small MLP takes hundreds)."""
        self._count += 1
        code = signature or (0 if dtype is None else self._DTYPES.get(str(np.dtype(dtype)), 9))
        head = self._head
        head[:4] = (self._KINDS[kind], self._count, n, code)
        np.negative(head[:4], out=head[4:])
        start = perf_counter()
        self.comm.Allreduce(head, self._head_out, op=_mpi_max())
        self.allreduce_seconds += perf_counter() - start
        out = self._head_out
        if np.array_equal(out[:4], -out[4:]):
            return
        if out[0] != -out[4] or out[1] != -out[5]:
            self._out_of_step(kind)
        if kind == "parameter broadcast":
            raise agreed(DistributedError(
                "the ranks hold different models (" + self._difference() + "); every rank "
                "must build the same network with the same dtype"))
        raise agreed(DistributedError(
            f"MPI ranks are out of step: rank {self.rank} entered a {kind} reduction of {n} "
            f"values{'' if dtype is None else f' ({np.dtype(dtype)})'} while another rank's had "
            "another size or dtype; every rank must train the same model with the same "
            "metrics, loss and options"))

    def _difference(self) -> str:
        """What differs between the ranks' parameter lists (every rank calls this)."""
        described = self.comm.allgather(self._described)
        for r, d in enumerate(described):
            if d != described[0]:
                for i, (a, b) in enumerate(zip(described[0], d)):
                    if a != b:
                        return (f"parameter {i}: rank 0 has shape {list(a[0])} {a[1]}, rank "
                                f"{r} has shape {list(b[0])} {b[1]}")
                return (f"rank 0 has {len(described[0])} parameters, rank {r} has "
                        f"{len(d)}")
        return "their parameter lists differ"

    def _finish(self) -> None:
        """Every rank leaves together, with the same model.  A rank that finished early
        (fewer epochs) meets the others' next collective here and every rank raises, instead
        of the others waiting forever for it; models that drifted apart (another learning
        rate or optimizer on one rank, a callback changing one rank's weights) are refused
        rather than returned as if they were one."""
        self._enter("end")
        sums = np.zeros(4)
        for p in self._params:
            data = np.asarray(p.data, dtype=np.float64)
            sums[0] += data.sum()
            sums[1] += np.square(data).sum()
        sums[2:] = -sums[:2]
        out = np.empty(4)
        self._allreduce(sums, out, _mpi_max())
        spread = out[:2] + out[2:]  # max - min over ranks
        scale = np.abs(out[:2]) + 1e-300
        if not np.all(spread <= 1e-7 * scale):  # NaN counts as different too
            raise agreed(DistributedError(
                "the ranks' models differ after training: every rank must train with the same "
                "optimizer, learning rate and options, and no callback may change the weights "
                f"of one rank only (this is rank {self.rank})"))

    def _out_of_step(self, kind: str) -> None:
        raise agreed(DistributedError(
            f"MPI ranks are out of step: rank {self.rank} entered the {kind} collective while "
            "another rank entered a different one (or had finished); every rank must run the "
            "same steps with the same options (call fit and evaluate on every rank, with the "
            "same epochs and metrics, even one whose share of the rows is empty)"))

    def _allreduce(self, send: np.ndarray, recv: np.ndarray, op: Any = None) -> None:
        start = perf_counter()
        if op is None:
            self.comm.Allreduce(send, recv)
        else:
            self.comm.Allreduce(send, recv, op=op)
        self.allreduce_seconds += perf_counter() - start

    # -- collectives ------------------------------------------------------------------------
    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        self._params = list(params)
        self._described = [(tuple(p.data.shape), str(p.data.dtype)) for p in params]
        signature = zlib.crc32(repr(self._described).encode())
        total = sum(p.data.size for p in params)
        self._enter("parameter broadcast", total, None, signature)
        if not params:
            return
        flat = np.concatenate([p.data.ravel() for p in params])
        self.comm.Bcast(flat, root=0)
        offset = 0
        for p in params:
            p.data[...] = flat[offset:offset + p.data.size].reshape(p.data.shape)
            offset += p.data.size

    def average_gradients(self, params: Sequence[Any], weight: float, loss: float,
                          stop: bool = False) -> Reduced:
        total = sum(p.data.size for p in params)
        dtype = params[0].data.dtype if params else np.dtype(np.float64)
        if self._send is None or self._send.size != total + 4 or self._send.dtype != dtype:
            # [gradient * weight ..., weight, loss * weight, failing ranks, stopping ranks]
            self._send = np.empty(total + 4, dtype=dtype)
            self._recv = np.empty_like(self._send)
        send, recv = self._send, self._recv
        offset = 0
        for p in params:
            n = p.data.size
            g = grad_array(p)  # an array even after backward(create_graph=True)
            if g is None:
                send[offset:offset + n] = 0.0
            else:
                np.multiply(g.ravel(), weight, out=send[offset:offset + n])
            offset += n
        ok = bool(np.isfinite(send[:offset].sum()))  # one pass: NaN/inf survive a sum
        send[offset:] = (weight, loss * weight if weight else 0.0, 0.0 if ok else 1.0,
                         1.0 if stop else 0.0)
        self._enter("gradient", send.size, dtype)
        self._allreduce(send, recv)
        weights = float(recv[offset])
        offset = 0
        for p in params:
            n = p.data.size
            p.grad = (recv[offset:offset + n] / weights).reshape(p.data.shape)
            offset += n
        return Reduced(float(recv[offset + 1]) / weights if weights else float("nan"),
                       int(recv[offset + 2]), bool(recv[offset + 3] > 0))

    def sum(self, values: np.ndarray) -> np.ndarray:
        send = np.asarray(values, dtype=np.float64).ravel().copy()
        recv = np.empty_like(send)
        self._enter("metric", send.size)
        self._allreduce(send, recv)
        return recv.reshape(np.shape(values))

    def max(self, value: int) -> int:
        send = np.array([float(value)])
        recv = np.empty_like(send)
        self._enter("count", 1)
        self._allreduce(send, recv, _mpi_max())
        return int(recv[0])

    def any(self, flag: bool) -> bool:
        return bool(self.sum(np.array([1.0 if flag else 0.0]))[0] > 0)

    def gather(self, value: Any) -> list[Any]:
        self._enter("gather")
        start = perf_counter()
        values = self.comm.allgather(value)
        self.allreduce_seconds += perf_counter() - start
        return values

    def agree(self, fn: Callable[[], T], what: str) -> T:
        error: Exception | None = None
        result: Any = None
        try:
            result = fn()
        except Exception as err:  # reported to every rank, then re-raised
            error = err
        self._enter("agreement")
        messages = self.comm.allgather(None if error is None
                                       else (type(error).__name__, str(error)))
        failed = [(r, m) for r, m in enumerate(messages) if m is not None]
        if not failed:
            return result
        if error is not None:
            raise agreed(error)
        rank, (kind, message) = failed[0]
        stop = DistributedError(f"rank {rank} of {self.size} could not {what}: {kind}: "
                                f"{message}; every rank stopped")
        stop.origin = kind  # what the failing rank raised (the CLI's hint follows it)
        raise agreed(stop)

    def run(self, fn: Callable[[], T]) -> T:
        try:
            result = fn()
            self._finish()
            return result
        except BaseException as err:
            if getattr(err, AGREED, False) or self.size == 1:
                raise
            _abort(self.comm, err)
            raise


def _mpi_max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def communicator(distributed: Any) -> Communicator:
    """The communicator for ``fit(distributed=...)``: False gives the single-process one,
    True MPI's world, and a :class:`Communicator` is used as it is."""
    if isinstance(distributed, Communicator):
        return distributed
    if distributed is True:
        return MPICommunicator()
    if distributed is False or distributed is None:
        return Communicator()
    raise DistributedError(f"distributed must be True, False or a Communicator, got "
                           f"{distributed!r}")


def _abort(comm: Any, err: BaseException) -> None:
    print(f"chainrule: rank {comm.Get_rank()} failed: {type(err).__name__}: {err}; "
          "aborting all ranks", file=sys.stderr, flush=True)
    sleep(0.5)  # mpiexec forwards output asynchronously; let the message out before Abort
    comm.Abort(1)



def run(main: Callable[[], T]) -> T:
    """Run ``main()`` on this rank; if it raises, print the error and abort every rank.

    Without this, one rank that fails before a collective leaves the others waiting forever.
    An error that every rank raised together (bad data agreed on by all ranks) is re-raised
    as it is: no rank is left waiting.  The command line runs ``--distributed`` jobs under
    this wrapper.
    """
    try:
        return main()
    except BaseException as err:  # any failure must take the whole job down
        if getattr(err, AGREED, False) or (isinstance(err, SystemExit) and not err.code):
            raise
        comm = world()
        if comm.Get_size() == 1:
            raise
        _abort(comm, err)
        raise
