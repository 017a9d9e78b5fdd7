"""One numba kernel for a whole training step of a chain of fully connected layers.

A captured plan (:mod:`chainrule.training.plan`) replays a step as some twenty NumPy calls
and the optimizer's own ``step()``: on the course's 2-4-1 network each call costs about a
microsecond of dispatch, more than its arithmetic.  :func:`kernels` gives one compiled
function, ``train_step``, that runs forward, loss, backward and the optimizer's update in a
single call, over flat buffers that :mod:`chainrule.training.flat` lays out: every weight and
bias in one array ``P`` (the parameters' ``.data`` are views into it), their gradients in
``G``, the optimizer's state in one array per buffer, activations and deltas in ``work``.

The kernel is generic: the network is data (``meta``, one row per layer: sizes, offsets,
activation code, whether its products go to BLAS) and the settings are numbers (``hp``), so
one compilation serves every network of a dtype; numba caches it on disk (``cache=True``,
in ``NUMBA_CACHE_DIR``, as :func:`chainrule.nn.kernels.numba_module` sets).  It follows the eager
engine's formulas in the eager order, each settings value computed in float64 as Python
does and then cast to the parameters' dtype, as NumPy casts a Python float: in float64 the
results agree with eager training to rounding (the tests check 1e-12 over whole runs).
``error_model="numpy"`` lets numba vectorise the loops (tanh over 1,600 values: 4.3 us to
0.9 us).
"""

from __future__ import annotations

import threading
from typing import Any

from ..nn.kernels import numba_module
from ..optim.kernels import KINDS, SLOTS
from . import fused

__all__ = ["ACT", "BLAS", "HP", "LOSS", "META", "OPTIMIZER", "kernels", "takes"]

# The columns of ``meta``, one row per layer.
META = {"n_in": 0, "n_out": 1, "w_off": 2, "b_off": 3, "act": 4, "a_off": 5, "d_off": 6,
        "blas": 7}
# The activation codes (fused.py's table, so both kernels agree).
ACT = fused.ACTIVATION_CODES
# Where a layer's products go to BLAS instead of the kernel's own loops: from this many
# multiply-adds per product (measured on 2 cores: below it a BLAS call costs more than the
# loop, e.g. the 400 x 2 x 4 product of the course's network).
BLAS = 8192
# The largest layer (batch x inputs x outputs multiply-adds) the one-call kernel takes; past it
# the step is its matrix products and the NumPy plan, which hands each to BLAS with the
# activations in NumPy's own vectorised loops, is faster: measured on 2 cores, float32, the
# 64-wide layers of W4 (262,144) ran 2x faster as the kernel, 784-128-10 at batch 128
# (12,845,056) 1.6x slower (870 against 550 us); the gate sits between the two.
LARGEST = 1 << 20
LOSS = {"mse": 0, "bce_logits": 1, "ce_labels": 2, "ce_soft": 3}
OPTIMIZER = {"none": -1, **KINDS}
# The slots of ``hp`` (float64): the optimizer's settings (chainrule.optim.kernels.SLOTS),
# the loss's scale, the sigmoid's floor, then one activation option (LeakyReLU's slope) per
# layer from ``slopes`` on.
HP = {**SLOTS, "scale": len(SLOTS), "floor": len(SLOTS) + 1, "slopes": len(SLOTS) + 2}

_kernels: Any = None
_tried = False
_lock = threading.Lock()


def takes(plan: Any, rows: int) -> bool:
    """Whether the one-call kernel is the faster way to run ``plan`` on batches of ``rows``:
    no layer past :data:`LARGEST` multiply-adds."""
    return max(rows * L.weight.data.size for L in plan.layers) <= LARGEST


def kernels() -> Any:
    """The compiled step kernel as a namespace with ``train_step``, or None without numba
    (or with CHAINRULE_NO_NUMBA set).  Built once, under a lock, as fused.kernels()."""
    global _kernels, _tried
    if _tried:
        return _kernels
    with _lock:
        if not _tried:
            try:
                _kernels = _load()
            finally:
                _tried = True
    return _kernels


def _load() -> Any:
    numba = numba_module()  # sets the cache folder before numba compiles anything
    if numba is None:
        return None
    from . import kernel_loops  # numba compiles (or loads from its cache) at the first call

    return kernel_loops
