"""What a captured plan took as fixed, and the promise that capturing changes nothing.

A compiled step (:mod:`chainrule.training.compiled`) replays a plan that bakes in the network
as it was at capture: which layers in which order, each layer's options (LeakyReLU's slope,
the loss's reduction), the training flags, which tensors are the weights, their shapes, dtypes
and ``requires_grad``, and the names the step function uses for its model, loss and optimizer.
This module guarantees two things:

* :class:`Watch` notices any change to those between steps (an activation swapped, a layer
  appended or deleted, an option set to a new value, a weight frozen, replaced or cast,
  ``model.eval()``, ``model = other_model`` in the step's scope), so the caller captures again
  instead of replaying the old network.  Setting an option again to an equal value, or
  replacing a weight's array by one of the same shape and dtype, is no change.
* :func:`leaves_no_trace` undoes what the capture's extra forward pass changes in the
  modules (attributes, submodule and parameter tables, buffers such as BatchNorm's running
  statistics, Dropout's and the shared random generators), so a step that then runs eagerly
  computes exactly what eager training computes.

What it does not watch: the contents of a weight array (the plan reads ``.data`` at every
step), and code inside chainrule's own functions, which does not change while training.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import types
from collections.abc import Callable, Iterator
from copy import deepcopy
from typing import Any

import numpy as np

from .. import nn
from ..engine import Tensor

__all__ = ["Watch", "leaves_no_trace", "names_used", "step_bindings"]

_DATA = operator.attrgetter("data")
_REQUIRES_GRAD = operator.attrgetter("requires_grad")
_VALUES = (bool, int, float, complex, str, bytes, type(None))  # equal means the same option


class _Reach:
    """The modules, option dicts and name bindings that a model or loss function depends on:
    a Module's submodules; a ``functools.partial``'s keywords and function; a function's
    defaults and the globals and closure cells it names (not followed into chainrule's own
    functions, which do not change while training)."""

    def __init__(self, *roots: Any) -> None:
        self.modules: list[nn.Module] = []
        self.dicts: list[dict[str, Any]] = []  # options held outside modules
        self.getters: list[Callable[[], Any]] = []
        self._seen: set[int] = set()
        for root in roots:
            self._visit(root, 0)

    def _visit(self, obj: Any, depth: int) -> None:
        if id(obj) in self._seen or depth > 3:
            return
        self._seen.add(id(obj))
        if isinstance(obj, nn.Module):
            for m in obj.modules():
                self._seen.add(id(m))
                self.modules.append(m)
        elif isinstance(obj, functools.partial):
            self.dicts.append(obj.keywords)
            for v in (obj.func, *obj.args, *obj.keywords.values()):
                self._visit(v, depth + 1)
        elif isinstance(obj, types.MethodType):
            self._visit(obj.__self__, depth + 1)
            self._visit(obj.__func__, depth + 1)
        elif isinstance(obj, types.FunctionType):
            for name in ("__code__", "__defaults__", "__kwdefaults__"):
                self.getters.append(functools.partial(getattr, obj, name))
            if not (obj.__module__ or "").startswith("chainrule."):
                for _, getter, value in names_used(obj):
                    self.getters.append(getter)
                    self._visit(value, depth + 1)
        elif callable(obj) and not isinstance(obj, type) and hasattr(obj, "__dict__"):
            self.dicts.append(obj.__dict__)  # a callable object's options


class Watch:
    """Everything a plan took as fixed, checked before each replay.

    The plan bakes in the model's structure, each layer's options, the training flags, which
    tensors are the weights, their shapes, dtypes and ``requires_grad``, and the loss
    function's options.  All of it lives in attribute dicts: each module's ``__dict__``,
    ``_modules`` and ``_parameters``; each parameter's ``data`` and ``requires_grad``; a
    function's defaults and the names it refers to.  The watch keeps a copy of each dict and
    the objects it saw, and :meth:`unchanged` checks, in two comparisons that run in C, that
    each dict still equals its copy (so ``negative_slope = 0.2`` set again to an equal 0.2 is
    no change) and that the submodules, parameters, their arrays and the names' values are
    still the same objects, in the same order.  Anything else that differs (a layer swapped or
    appended, an option, ``model.eval()``, a weight replaced, frozen or cast) is a change; the
    one exception is a parameter's array replaced by one of the same shape and dtype, which
    needs no new plan because the plan reads ``.data`` at every step.

    The check costs about 2 us a step on the course's 2-4-1 network with its loss (list
    ``id()`` of every watched value instead: 7 us).  With ``full=False`` (a step that runs
    eagerly anyway) it watches only the structure (which submodules and parameters each module
    holds) and the training flags, so a model that becomes replayable (``model.eval()`` turns
    its dropout off) is captured again, but a forward pass that changes its modules'
    attributes does not make every step capture again.

    >>> import chainrule as cr
    >>> model = cr.nn.Sequential(cr.nn.Linear(2, 1, rng=0), cr.nn.LeakyReLU(0.1))
    >>> w = Watch([model], model.parameters())
    >>> w.unchanged()
    True
    >>> model[1].negative_slope = 0.2
    >>> w.unchanged()
    False
    """

    def __init__(self, roots: Any, params: Any = (), bindings: Any = (),
                 full: bool = True) -> None:
        reach = _Reach(*roots)
        self.modules = reach.modules
        self.dicts: list[dict[str, Any]] = [d for m in self.modules
                                            for d in (m._modules, m._parameters)]
        if full:  # the options too: every attribute, and those held outside modules
            self.dicts += [m.__dict__ for m in self.modules] + reach.dicts
        self.getters: list[Callable[[], Any]] = list(bindings) + (
            reach.getters if full else
            [functools.partial(getattr, m, "training") for m in self.modules])
        self.params: list[Tensor] = list({id(p): p for p in params}.values()) if full else []
        self._take()

    def _objects(self) -> list[Any]:
        """What must stay the very same objects, in order."""
        objects = list(itertools.chain.from_iterable(self._views))
        objects += map(_DATA, self.params)
        objects += map(_REQUIRES_GRAD, self.params)
        objects += [get() for get in self.getters]
        return objects

    def _take(self) -> None:
        # The submodules and parameters that containers hold (the live views show their
        # order and identity).  An empty dict that gains one differs from its copy below.
        self._views = [d.values() for m in self.modules for d in (m._modules, m._parameters)
                       if d]
        self.copies = [dict(d) for d in self.dicts]
        # ``saved`` holds every object it saw, so no other object can take one of their ids.
        self.saved = self._objects()
        self.ids = list(map(id, self.saved))
        self._data_at = len(self.saved) - 2 * len(self.params) - len(self.getters)

    def unchanged(self) -> bool:
        """Whether everything the plan assumed is as it was when the watch was made."""
        try:
            now = self._objects()
            if len(now) == len(self.saved) and all(map(operator.is_, now, self.saved)) \
                    and self.dicts == self.copies:
                return True
        except Exception:  # comparing a replaced array or tensor with the old one can raise
            pass
        return self._slow()

    def _slow(self) -> bool:
        """The fast check saw a difference: is it only arrays swapped for ones of the same
        shape and dtype, or options set again to equal values?  Then keep the plan."""
        try:
            now = self._objects()
        except (AttributeError, ValueError):  # an attribute deleted, a closure cell emptied
            return False
        if len(now) != len(self.saved):
            return False
        arrays = range(self._data_at, self._data_at + len(self.params))
        for i, (a, b) in enumerate(zip(now, self.saved)):
            if a is not b and not (i in arrays and a.shape == b.shape and a.dtype == b.dtype):
                return False
        for d, copy in zip(self.dicts, self.copies):
            if d.keys() != copy.keys() or not all(
                    v is copy[k] or _same_value(v, copy[k]) for k, v in d.items()):
                return False
        self._take()
        return True


def _same_value(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(x is y or _same_value(x, y) for x, y in zip(a, b))
    return (type(a) in _VALUES or isinstance(a, (np.number, np.bool_))) and bool(a == b)


def names_used(fn: Any) -> list[tuple[str, Callable[[], Any], Any]]:
    """The names a function's code uses that its globals or closure cells hold: for each, the
    name, a function that reads its current value, and that value."""
    code = fn.__code__
    used = set(code.co_names) | set(code.co_freevars)
    found: list[tuple[str, Callable[[], Any], Any]] = []
    g = getattr(fn, "__globals__", {})
    for name in sorted(used & set(g)):
        found.append((name, functools.partial(g.get, name), g[name]))
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet assigned
            continue
        found.append((name, functools.partial(getattr, cell, "cell_contents"), value))
    return found


@contextlib.contextmanager
def leaves_no_trace(*roots: Any) -> Iterator[None]:
    """Undo what a forward pass changes in the modules ``roots`` reach (a model, a loss
    function): their attributes, buffers (BatchNorm's running statistics, updated in place)
    and random generators (Dropout's), so that the capture's extra pass
    does not make the step differ from the eager one.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> bn = nn.BatchNorm1d(2, dtype=np.float64)
    >>> with leaves_no_trace(bn):
    ...     _ = bn(np.array([[1.0, 2.0], [3.0, 5.0]]))
    >>> bn.running_mean
    array([0., 0.])
    """
    modules = _Reach(*roots).modules
    saved = [(m, dict(m.__dict__), dict(m._modules), dict(m._parameters), dict(m._buffers),
              [(b, b.copy()) for b in m._buffers.values()
               if isinstance(b, np.ndarray) and b.flags.writeable])
             for m in modules]
    # The pass draws from copies of the modules' generators (Dropout's, which may be the
    # shared one): saving a generator's state and putting it back after would also rewind
    # the draws another thread made from it meanwhile.  Restoring __dict__ below puts the
    # untouched originals back.
    for m in modules:
        gens = [k for k, g in m.__dict__.items() if isinstance(g, np.random.Generator)]
        for k in gens:
            m.__dict__[k] = deepcopy(m.__dict__[k])
    try:
        yield
    finally:
        for m, attrs, mods, params, bufs, contents in saved:
            m.__dict__.clear()
            m.__dict__.update(attrs)
            for d, old in ((m._modules, mods), (m._parameters, params), (m._buffers, bufs)):
                d.clear()
                d.update(old)
            for b, held in contents:
                b[...] = held


def step_bindings(step_fn: Any, objects: tuple[Any, ...]) -> list[Callable[[], Any]]:
    """Readers of the step function's names that hold ``objects`` (its model, loss and
    optimizer): rebinding one (``model = bigger_model``) changes what the step computes."""
    if step_fn is None or not hasattr(step_fn, "__code__"):
        return []
    return [get for _, get, value in names_used(step_fn)
            if any(value is o for o in objects if o is not None)]
