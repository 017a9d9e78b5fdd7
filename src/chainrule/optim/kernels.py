"""The optimizers' updates as one compiled loop per parameter (numba), and the table that says
which optimizer is which update.

With numba installed (``pip install chainrule[fast]``), :meth:`Optimizer.step
<chainrule.optim.optimizer.Optimizer.step>` updates the NumPy parameters of SGD, Adam, AdamW
and RMSprop with :func:`chainrule.optim.updates.update`: the optimizer's own formulas in its order
of operations, one element at a time, in place.  The formulas written with arrays make a
temporary the size of the weights for each operation (Adam: about ten), which costs time and,
where glibc returns the memory and maps it again, page faults: Adam on a 64-32-10 network took
19.7 us a step, the loop 2.9 us; SGD on 784-1024-1024-10 427 against 213 us.  The results are
the formulas' to rounding (the tests compare both, float64 and float32, every option).

Each optimizer class declares its rule (``update_rule``, a :data:`Rule`); the training step
kernel (:mod:`chainrule.training.flat`) reads the same rules: the update's code, the settings
it takes (into :data:`SLOTS` of a float64 vector) and the state buffers.
"""

from __future__ import annotations

import operator
import threading
from typing import Any

import numpy as np

__all__ = ["KINDS", "SLOTS", "Rule", "buffer_dtypes", "cast_cell", "fill_settings", "loop",
           "rule_of", "settings_vector", "unused", "uses"]

KINDS = {"sgd": 0, "adam": 1, "rmsprop": 2}
"""The compiled update's code for each rule."""
SLOTS = {"lr": 0, "weight_decay": 1, "momentum": 2, "dampening": 3, "nesterov": 4,
         "maximize": 5, "beta1": 6, "beta2": 7, "eps": 8, "amsgrad": 9, "decoupled": 10,
         "centered": 11, "step": 12}
"""Where each setting sits in the float64 vector the compiled update reads."""

Rule = tuple[str, tuple[str, ...], tuple[str, str, str]]
"""An optimizer's compiled update: its code's name in :data:`KINDS`, the settings it reads
from a parameter group, and its state buffers in the order the update names them S0, S1,
S2 ("" for none).  Each optimizer class that has one says so in its ``update_rule``."""


def rule_of(optimizer: Any) -> Rule | None:
    """The compiled update of ``optimizer`` (an instance or a class), or None: none is
    declared, or a subclass changed the rule (``_update``) without declaring its own."""
    cls = optimizer if isinstance(optimizer, type) else type(optimizer)
    for klass in cls.__mro__:
        if "_update" in vars(klass):  # the class whose formulas the optimizer runs
            rule = vars(klass).get("update_rule")
            return rule if rule is not None else None
    return None


SMALL = 4096
"""Fewer weights than this with plain SGD: the formulas, as fast there (see :class:`Run`)."""

_NONE = {np.dtype(np.float32): np.empty(0, np.float32),
         np.dtype(np.float64): np.empty(0, np.float64)}  # an unused state buffer


def fill_settings(hp: np.ndarray, rule: Rule, group: dict[str, Any]) -> None:
    """Write ``group``'s settings for the update ``rule`` into the first slots of ``hp``
    (the step number's slot is the caller's)."""
    hp[:SLOTS["step"]] = 0.0
    for name in rule[1]:
        value = group[name]
        if name == "betas":
            hp[SLOTS["beta1"]], hp[SLOTS["beta2"]] = (float(b) for b in value)
        elif name == "alpha":
            hp[SLOTS["beta1"]] = float(value)
        elif name == "decoupled_weight_decay":
            hp[SLOTS["decoupled"]] = float(value)
        else:
            hp[SLOTS[name]] = float(value)


def uses(group: dict[str, Any], name: str) -> bool:
    """Whether an optimizer with the settings ``group`` keeps state buffer ``name``."""
    if name == "momentum_buffer":
        return group["momentum"] > 0
    if name == "max_exp_avg_sq":
        return bool(group["amsgrad"])
    if name == "grad_avg":
        return bool(group["centered"])
    return name != ""


_loaded: list[Any] = []
_lock = threading.Lock()


def loop() -> Any:
    """The compiled update (:func:`chainrule.optim.updates.update`), or None without numba
    (or with ``CHAINRULE_NO_NUMBA`` set)."""
    if not _loaded:
        with _lock:
            if not _loaded:
                from ..nn.kernels import numba_module  # sets numba's cache folder first

                if numba_module() is None:
                    _loaded.append(None)
                else:
                    from .updates import update

                    _loaded.append(update)
    return _loaded[0]


def buffer_dtypes() -> tuple[Any, ...]:
    """The dtypes the compiled update takes."""
    return tuple(_NONE)


def settings_vector() -> np.ndarray:
    """A vector for :func:`fill_settings` and the step number."""
    return np.zeros(len(SLOTS), np.float64)


def cast_cell(dtype: Any) -> np.ndarray:
    """A one-value array of ``dtype``: the update casts each float64 setting through it, as
    NumPy casts a Python float (one per call: threads must not share it)."""
    return np.empty(1, dtype)


def unused(dtype: Any) -> np.ndarray:
    """The empty array passed for a state buffer the settings do not use."""
    return _NONE[np.dtype(dtype)]


class Run:
    """What the compiled update of one optimizer works on: for each parameter, its array and
    its state buffers as flat views, and each group's settings vector.  Made again
    (:meth:`current` says when) after anything replaced a parameter's array or a state
    buffer (``load_state_dict``, ``model.to``, an assignment); a group's settings are read
    again when they change (a learning-rate schedule)."""

    def __init__(self, update: Any, rule: Rule, datas: list[Any],
                 states: list[list[tuple[str, Any]]], views: list[tuple[Any, ...]],
                 groups: list[list[Any]]) -> None:
        self.update, self.rule, self.kind = update, rule, KINDS[rule[0]]
        self.datas, self.states, self.views, self.groups = datas, states, views, groups

    @classmethod
    def make(cls, opt: Any, grads: list[Any]) -> Run | None:
        """The arrays of ``opt`` now (state buffers made for the parameters that have a
        gradient, as the formulas make them), or None where the loop cannot run on them or
        is not worth it: plain SGD on fewer than :data:`SMALL` weights (two array calls a
        parameter, about as fast as the loop's call)."""
        rule = rule_of(opt)
        datas = [p.data for p in opt.params]
        if not all(type(w) is np.ndarray and w.dtype in _NONE and w.flags.c_contiguous
                   for w in datas):
            return None
        if sum(w.size for w in datas) < SMALL and not any(
                uses(g, n) or g.get("weight_decay") or g.get("maximize")
                for g in opt.param_groups for n in rule[2]):
            return None  # decided before loading numba (about 60 MiB)
        update = loop()
        if update is None:
            return None
        views, states, groups, i = [], [], [], 0
        for group in opt.param_groups:
            hp = settings_vector()
            fill_settings(hp, rule, group)
            groups.append([group, [group[k] for k in rule[1]], hp, i, len(group["params"])])
            for p in group["params"]:
                w = p.data
                if grads[i] is None:  # no state until it has a gradient, as the formulas do
                    states.append([])
                    views.append(None)
                    i += 1
                    continue
                kept = [(name, opt.state_buffer(opt.state[i], name, w)) if uses(group, name)
                        else (name, None) for name in rule[2]]
                states.append([(name, b) for name, b in kept if b is not None])
                views.append((w.reshape(-1), *(_NONE[w.dtype] if b is None else b.reshape(-1)
                                              for _, b in kept)))
                i += 1
        return cls(update, rule, datas, states, views, groups)

    def current(self, opt: Any) -> bool:
        """Whether the parameters' arrays and their state buffers are still those this run
        was made for (and each group's options for its buffers the same)."""
        datas = [p.data for p in opt.params]
        if len(datas) != len(self.datas) or not all(map(operator.is_, datas, self.datas)):
            return False
        for state, kept in zip(opt.state, self.states):
            for name, buffer in kept:
                if state.get(name) is not buffer:
                    return False
        for entry in self.groups:
            group, values, hp = entry[0], entry[1], entry[2]
            now = [group[k] for k in self.rule[1]]
            if now != values:
                if [uses(group, n) for n in self.rule[2]] != \
                        [uses(dict(zip(self.rule[1], values)), n) for n in self.rule[2]]:
                    return False  # another buffer in use (momentum switched on): made again
                fill_settings(hp, self.rule, group)
                entry[1] = now
        return True

    def step(self, opt: Any, grads: list[Any]) -> bool:
        """One update of every parameter with a gradient; False (nothing changed) where a
        gradient is not a C-ordered array of its parameter's dtype and shape, or a parameter
        has a gradient for the first time (the run is made again)."""
        for w, g, v in zip(self.datas, grads, self.views):
            if g is not None and (v is None or not (
                    type(g) is np.ndarray and g.dtype == w.dtype and g.shape == w.shape
                    and g.flags.c_contiguous)):
                return False
        update, kind, views, steps = self.update, self.kind, self.views, opt.steps
        step_slot = SLOTS["step"]
        for _, _, hp, start, count in self.groups:
            for i in range(start, start + count):
                g = grads[i]
                if g is None:
                    continue
                steps[i] += 1
                hp[step_slot] = steps[i]
                w, s0, s1, s2 = views[i]
                update(w, g.reshape(-1), s0, s1, s2, hp, kind, np.empty(1, w.dtype))
        return True
