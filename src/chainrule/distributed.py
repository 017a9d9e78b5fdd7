"""Data-parallel training over MPI (``pip install chainrule[mpi]``, run under ``mpiexec``).

Every process (rank) holds the whole model and a shard of the data.  The training loop talks
to the other ranks only through a :class:`Communicator`; the default one is a single process
and does nothing, so the loop has no ``if distributed`` branches.  :class:`MPICommunicator`
does the work over MPI:

- **gradients**: after ``backward()`` each rank has the gradient of *its* examples; one
  ``Allreduce`` over a single flat buffer per step replaces it with the mean over all ranks,
  weighted by each rank's examples (or sample weights), so shards of uneven size give exactly
  the gradient of the mean loss over the global batch, as one process would.  Every rank
  takes the same step and the models stay identical.
- **agreement**: ranks agree on the data (:meth:`Communicator.agree`: if the data is bad on
  any rank, every rank raises, with that rank's message, before training starts), on
  stopping (:meth:`Communicator.any`) and on the number of steps per epoch
  (:meth:`Communicator.max`); only the chief rank (rank 0) prints and writes files.
- **order**: every collective carries a tag (its kind and a running count) that is checked
  after the reduction, so ranks that fall out of step raise :class:`DistributedError` on
  every rank instead of mixing metrics into gradients.
- **failure**: :func:`run` (and ``cr.fit(distributed=True)``) turns an error on one rank
  into the end of the whole job within seconds, printing that rank's message first.

>>> from chainrule.distributed import shard_range
>>> [shard_range(10, rank, 3) for rank in range(3)]
[(0, 4), (4, 7), (7, 10)]
>>> Communicator().sum(np.array([1.0, 2.0]))      # one process: nothing to add
array([1., 2.])
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable, Sequence
from time import perf_counter, sleep
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np

from .errors import DistributedError
from .optim import Optimizer

__all__ = ["Communicator", "DistributedError", "DistributedOptimizer", "MPICommunicator",
           "Reduced", "communicator", "run", "shard_range", "world"]

T = TypeVar("T")
AGREED = "chainrule_every_rank_raised"  # marks an error that every rank raised together


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


def shard_range(n_rows: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of ``n_rows`` that ``rank`` of ``size`` owns.

    Contiguous blocks; the first ``n_rows % size`` ranks get one row more, so the shards cover
    every row exactly once and differ in size by at most one.
    """
    if not 0 <= rank < size:
        raise DistributedError(f"shard_range: rank {rank} is outside 0..{size - 1}")
    base, extra = divmod(n_rows, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


class Reduced(NamedTuple):
    """What a gradient reduction tells every rank besides the gradients."""

    loss: float  # the weighted mean loss over ranks
    nonfinite: int  # ranks whose gradient was not finite
    stop: bool  # whether any rank asked to stop


def _agreed(err: BaseException) -> BaseException:
    setattr(err, AGREED, True)
    return err


class Communicator:
    """One process: every collective returns its input.  The interface the training loop
    uses; :class:`MPICommunicator` implements it over MPI."""

    rank = 0
    size = 1
    allreduce_seconds = 0.0

    @property
    def is_chief(self) -> bool:
        """Whether this rank prints, writes files and warns (rank 0)."""
        return self.rank == 0

    def broadcast_parameters(self, params: Sequence[Any]) -> None:
        """Give every rank the chief's parameter values."""

    def average_gradients(self, params: Sequence[Any], weight: float, loss: float,
                          stop: bool = False) -> Reduced:
        """Replace each ``.grad`` by the ``weight``-weighted mean over ranks; returns the
        weighted mean ``loss`` over ranks, how many ranks had a non-finite gradient, and
        whether any rank passed ``stop``."""
        return Reduced(loss, 0, bool(stop))

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``values`` (float64) over all ranks."""
        return values

    def max(self, value: int) -> int:
        """The largest ``value`` over all ranks."""
        return int(value)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank."""
        return bool(flag)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        return [value]

    def agree(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` on every rank; if it raises on any, every rank raises (the failing rank
        its own error, the others a DistributedError quoting it)."""
        return fn()

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn``; an error that not every rank raised ends the whole job."""
        return fn()


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
            raise _agreed(DistributedError(
                "the ranks hold different models (" + self._difference() + "); every rank "
                "must build the same network with the same dtype"))
        raise _agreed(DistributedError(
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
            raise _agreed(DistributedError(
                "the ranks' models differ after training: every rank must train with the same "
                "optimizer, learning rate and options, and no callback may change the weights "
                f"of one rank only (this is rank {self.rank})"))

    def _out_of_step(self, kind: str) -> None:
        raise _agreed(DistributedError(
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
            if p.grad is None:
                send[offset:offset + n] = 0.0
            else:
                np.multiply(p.grad.ravel(), weight, out=send[offset:offset + n])
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
            raise _agreed(error)
        rank, (kind, message) = failed[0]
        stop = DistributedError(f"rank {rank} of {self.size} could not {what}: {kind}: "
                                f"{message}; every rank stopped")
        stop.origin = kind  # what the failing rank raised (the CLI's hint follows it)
        raise _agreed(stop)

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


class DistributedOptimizer:
    """Wrap an optimizer so each ``step()`` first averages gradients across MPI ranks.

    For hand-written loops (``cr.fit(distributed=True)`` needs none of this).  Call
    ``step(n_examples)`` with the number of examples this rank used for the gradient (it
    defaults to 1, an unweighted mean, which is right when every rank's batch is equally
    large).  Everything else (``zero_grad``, ``lr``, ``state_dict``) is the wrapped
    optimizer's.  Parameters are broadcast from rank 0 when the optimizer is wrapped, so all
    ranks start from the same weights; if any rank's gradient is not finite, every rank raises
    :class:`DistributedError` at the same step instead of hanging or diverging.
    """

    def __init__(self, optimizer: Optimizer, comm: Any = None) -> None:
        self.optimizer = optimizer
        self.communicator = comm if isinstance(comm, MPICommunicator) else MPICommunicator(comm)
        self.comm = self.communicator.comm
        self.rank = self.communicator.rank
        self.size = self.communicator.size
        dtypes = {p.data.dtype for p in optimizer.params}
        if len(dtypes) != 1:
            raise DistributedError(
                f"all parameters must share one dtype, got {sorted(map(str, dtypes))}")
        self.broadcast_parameters()

    def broadcast_parameters(self) -> None:
        """Copy rank 0's parameters to every rank (one Bcast of a flat buffer)."""
        self.communicator.broadcast_parameters(self.optimizer.params)

    @property
    def allreduce_seconds(self) -> float:
        """Seconds spent in gradient reductions so far."""
        return self.communicator.allreduce_seconds

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def step(self, n_examples: float = 1.0) -> None:
        """Average gradients over ranks (weighted by ``n_examples``), then step everywhere."""
        self.allreduce_gradients(n_examples)
        self.optimizer.step()

    def allreduce_gradients(self, n_examples: float = 1.0) -> None:
        """Replace every rank's ``.grad`` with the example-weighted mean over all ranks.

        A rank with no examples in this step passes ``n_examples=0``: it still takes part in
        the Allreduce (so no rank waits forever) and contributes nothing.
        """
        failed = self.communicator.average_gradients(self.optimizer.params, n_examples,
                                                     0.0).nonfinite
        if failed:
            raise DistributedError(
                f"{failed} of {self.size} ranks produced a non-finite gradient; all ranks "
                f"stopped at the same step (this is rank {self.rank}). Lower the learning rate "
                "or check the data for NaN/inf values.")

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Element-wise sum of ``values`` over all ranks (for metrics and counts)."""
        return self.communicator.sum(values)

    def max(self, value: int) -> int:
        """The largest ``value`` over all ranks."""
        return self.communicator.max(value)

    @property
    def lr(self) -> float:
        """The wrapped optimizer's learning rate (schedules that set it reach the optimizer)."""
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


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
