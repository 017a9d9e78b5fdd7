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

The modules: :mod:`.communicator` (the interface, and its one-process form), :mod:`.mpi`
(:class:`MPICommunicator`, :func:`run`), :mod:`.optimizer` (:class:`DistributedOptimizer`,
for hand-written loops).  Which rows a rank owns is arithmetic that data reading needs too:
:func:`chainrule.data.shards.shard_range`.

>>> from chainrule.distributed import shard_range
>>> [shard_range(10, rank, 3) for rank in range(3)]
[(0, 4), (4, 7), (7, 10)]
"""

from ..data.shards import shard_range
from ..errors import DistributedError
from .communicator import AGREED, Communicator, Reduced
from .mpi import MPICommunicator, communicator, run, world
from .optimizer import DistributedOptimizer

__all__ = ["AGREED", "Communicator", "DistributedError", "DistributedOptimizer",
           "MPICommunicator", "Reduced", "communicator", "run", "shard_range", "world"]
