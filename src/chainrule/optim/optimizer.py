"""The optimizer base class: parameter groups, per-parameter state, and the flat fast path.

An optimizer holds its parameters in ``param_groups`` (PyTorch's layout): a list of dicts,
each with ``params`` and that group's hyperparameters (``lr``, ``weight_decay``, ...), so
one model can train its layers at different rates.  ``optimizer.lr`` reads the first group's
rate and setting it sets every group's.

Each update rule is written once, for arrays (``_update(w, g, state, group, step)``).  For
small models, where the cost of a step is the number of NumPy calls rather than the
arithmetic, :meth:`Optimizer.step` applies a rule with state (Adam, RMSprop, momentum) to all
parameters at once as one flat vector: a handful of calls per step instead of a handful per
parameter.  That is only the same computation when every parameter is in one group, has the
same dtype, has a gradient this step and has taken as many steps as the others; otherwise
(and for large models, where the per-parameter loop moves fewer bytes) each parameter is
updated on its own.  The state lives in flat buffers whose per-parameter views are what
``state`` and :meth:`Optimizer.state_dict` show, so both paths share it.

Every array operation goes to the parameters' own array library (``namespace``), so the state
lives on the parameters' device; when a parameter has moved (``model.to("cuda")`` after some
steps), its state follows it at the next step.  :meth:`Optimizer.state_dict` gives host NumPy
copies, so a checkpoint written on one device loads on any.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any

from ..engine import Tensor
from ..engine.backend import NUMPY, is_array, namespace, ndarray
from ..engine.devices import device_of, to_device, to_numpy
from ..errors import ConfigError
from . import kernels
from ._checks import number

__all__ = ["Optimizer", "ParamGroup", "ParamState", "as_float", "check_betas", "grad_array"]

ParamGroup = dict[str, Any]

# Up to this many parameters in all, stepping them as one flat vector is faster (measured on
# 2 cores: Adam over 6 tensors of 2,048 floats 1.7x faster flat; 42 tensors of 4,096 floats
# 2.5x slower flat, because each extra pass over the data then costs more than a call).
_FLAT_LIMIT = 1 << 15

# Buffer names of checkpoints written before the buffers took PyTorch's names.
_LEGACY_NAMES = {"m": "exp_avg", "v": "exp_avg_sq", "momentum": "momentum_buffer"}


def as_float(loss: Any) -> float:
    """A closure's loss as a Python float (a scalar Tensor, an array or a number)."""
    if isinstance(loss, Tensor):
        return float(loss.item())
    return float(loss)


def grad_array(p: Tensor) -> ndarray | None:
    """``p.grad`` as an array (None if it has none).

    After ``backward(create_graph=True)`` a gradient is a tensor in a graph; an update reads
    its values only, as PyTorch's optimizers do (their step runs without recording), so the
    step is the one a plain ``backward()`` would give.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0], requires_grad=True)
    >>> (w ** 2).sum().backward(create_graph=True)
    >>> type(w.grad).__name__, grad_array(w)
    ('Tensor', array([6.]))
    """
    g = p.grad
    if isinstance(g, Tensor):
        g = g.data
    if g is not None and type(g) is not type(p.data):
        # a gradient set by hand from the host (p.grad = numpy_array) for a parameter on
        # another device: moved there, as the update needs it beside the parameter
        g = to_device(g, device_of(p.data))
    return g


class ParamState(list):  # type: ignore[type-arg]
    """One dict of state arrays per parameter, in order; also indexable by the parameter
    itself, as PyTorch's ``optimizer.state[p]``."""

    def __init__(self, owner: Optimizer) -> None:
        super().__init__()
        self._owner = owner

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, Tensor):
            for i, p in enumerate(self._owner.params):
                if p is key:
                    return list.__getitem__(self, i)
            raise ConfigError("this tensor is not one of the optimizer's parameters")
        return list.__getitem__(self, key)


class Optimizer:
    """Base class: parameter groups, per-parameter state and the step loop.

    Subclasses give ``defaults`` (every hyperparameter with its default), ``buffers`` (the
    names of their state arrays), ``_check(group)`` (validate one group's settings) and
    ``_update(w, g, state, group, step)``.
    """

    buffers: tuple[str, ...] = ()
    nonnegative_buffers: tuple[str, ...] = ()  # averages of squares, never below zero
    #: whether the rule's arithmetic is the same on one flat vector as per parameter
    flat_capable = True

    def __init__(self, params: Iterable[Tensor] | Iterable[ParamGroup],
                 defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[ParamGroup] = []
        self.params: list[Tensor] = []
        self.state: list[dict[str, ndarray]] = ParamState(self)
        #: per parameter: how many updates it has had (PyTorch's ``state[p]["step"]``)
        self.steps: list[int] = []
        #: how many times :meth:`step` ran
        self.step_count = 0
        self._flat_state: dict[str, ndarray] = {}
        self._flat_dtype: Any = None
        self._rule = kernels.rule_of(self)  # the compiled update, where the class has one
        # its arrays (made again when they change), False where the formulas run instead
        self._kernel_run: Any = None
        self._steps_equal = True  # every parameter has taken as many steps as the others
        # per parameter: the array type its state was made for (its device's)
        self._array_types: list[type] = []
        who = type(self).__name__
        if isinstance(params, Tensor):
            raise ConfigError(f"{who}: params must be an iterable of tensors or of dicts "
                              "(parameter groups), got one Tensor; pass [tensor]")
        if isinstance(params, dict):
            params = [params]
        groups = list(params)
        if not groups:
            raise ConfigError(f"{who}: got an empty parameter list")
        if not all(isinstance(g, dict) for g in groups):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)
        self.initial_lr = float(self.param_groups[0]["lr"])
        dtypes = {p.data.dtype for p in self.params}
        small = sum(p.data.size for p in self.params) <= _FLAT_LIMIT
        if (self.flat_capable and len(self.param_groups) == 1 and len(dtypes) == 1
                and len(self.params) > 1 and small):
            self._flat_dtype = dtypes.pop()

    # -- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group of parameters with its own settings (the others take ``defaults``)."""
        who = type(self).__name__
        self._kernel_run = None  # the compiled update's arrays: made again at the next step
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise ConfigError(f"{who}: a parameter group is a dict with a 'params' entry, "
                              f"got {param_group!r:.80}")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params", "initial_lr"})
        if unknown:
            raise ConfigError(f"{who}: unknown setting(s) {', '.join(map(repr, unknown))} in a "
                              f"parameter group; valid: {', '.join(sorted(self.defaults))}")
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        own: list[Tensor] = []
        seen = {id(p) for p in self.params}
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                p = p[1]  # (name, tensor) pairs, as model.named_parameters() gives
            if not isinstance(p, Tensor):
                raise ConfigError(f"{who}: expected tensors, got {type(p).__name__}")
            if id(p) in seen:
                if any(p is q for q in self.params):
                    raise ConfigError(f"{who}: a parameter appears in more than one parameter "
                                      "group; give each parameter to one group")
                continue  # a repeat inside this group: step it once
            seen.add(id(p))
            own.append(p)
        if not own:
            raise ConfigError(f"{who}: got an empty parameter list")
        group: ParamGroup = {**self.defaults, **param_group, "params": own}
        self._check(group)
        self.param_groups.append(group)
        self.params.extend(own)
        self.state.extend({} for _ in own)
        self.steps.extend(0 for _ in own)
        self._array_types.extend(type(p.data) for p in own)
        self._steps_equal = len(set(self.steps)) == 1
        # The flat layout covers the parameters it was built for; later ones step on their own.
        self._flat_dtype = None

    def _check(self, group: ParamGroup) -> None:
        """Validate (and normalise in place) one group's hyperparameters."""
        group["lr"] = number(group["lr"], "lr", type(self).__name__)

    def _number(self, group: ParamGroup, name: str, **bounds: Any) -> None:
        group[name] = number(group[name], name, type(self).__name__, **bounds)

    def _flag(self, group: ParamGroup, name: str) -> None:
        value = group[name]
        if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
            raise ConfigError(f"{type(self).__name__}: {name} must be True or False, got "
                              f"{value!r}")
        group[name] = bool(value)

    @property
    def lr(self) -> float:
        """The first group's learning rate; setting it sets every group's."""
        return float(self.param_groups[0]["lr"])

    @lr.setter
    def lr(self, value: float) -> None:
        value = number(value, "lr", type(self).__name__)
        for group in self.param_groups:
            group["lr"] = value

    # -- stepping ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient before the next backward pass (PyTorch's
        default), or with ``set_to_none=False`` fill the gradients with zeros.

        A gradient that is a tensor in a graph (``backward(create_graph=True)``) becomes an
        array of zeros: the graph is let go (PyTorch detaches it), and its arrays, which that
        graph may still read, are left untouched."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            elif isinstance(p.grad, Tensor):
                p.grad = namespace(p.grad.data).zeros_like(p.grad.data)
            else:
                p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every parameter that has a gradient.

        ``closure``, if given, re-evaluates the model (zero the gradients, compute the loss,
        call ``backward()``) and returns the loss; it runs first and its loss is returned.
        Gradients left by ``backward(create_graph=True)`` are read by value (see
        :func:`grad_array`).
        """
        loss = closure() if closure is not None else None
        self.step_count += 1
        params, steps = self.params, self.steps
        if [type(p.data) for p in params] != self._array_types:
            self._follow_devices()
        grads = [grad_array(p) for p in params]
        if self._compiled_step(grads):
            self._steps_equal = len(set(steps)) == 1
            return loss
        if (self._flat_dtype is not None and self._steps_equal
                and not any(g is None for g in grads)):
            xp = namespace(params[0].data)
            # NumPy's method itself on the CPU: no Python frame per call (twelve a step for a
            # small MLP)
            reshape = ndarray.reshape if xp is NUMPY else xp.reshape
            flat = xp.concat([reshape(p.data, (-1,)) for p in params])
            g_flat = xp.concat([reshape(g, (-1,)) for g in grads])  # type: ignore[arg-type]
            steps[:] = [steps[0] + 1] * len(steps)
            self._update(flat, g_flat, self._flat_state, self.param_groups[0], steps[0])
            offset = 0
            for p in params:
                n = p.data.size
                p.data[...] = reshape(flat[offset:offset + n], p.data.shape)
                offset += n
            return loss
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                g = grads[i]
                if g is not None:
                    steps[i] += 1
                    self._update(p.data, g, self.state[i], group, steps[i])
                i += 1
        self._steps_equal = len(set(steps)) == 1
        return loss

    def _follow_devices(self) -> None:
        """Move each parameter's state to the device its parameter is on now (after
        ``model.to(device)``)."""
        params = self.params
        types = [type(p.data) for p in params]
        self._kernel_run = None  # decided again for the arrays there
        if self._flat_dtype is not None and len(set(types)) == 1:
            # Move the flat buffers whole and cut the per-parameter views again.
            where = device_of(params[0].data)
            self._flat_dtype = params[0].data.dtype
            for name, flat in self._flat_state.items():
                self._cut(name, to_device(flat, where))
        else:
            # Parameters on different devices: each keeps its own state, no flat path.
            self._flat_state = {}
            self._flat_dtype = None
            for p, own in zip(params, self.state):
                for name, buf in own.items():
                    if type(buf) is not type(p.data):
                        own[name] = to_device(buf, device_of(p.data))
        self._array_types = types

    def _update(self, w: ndarray, g: ndarray, state: dict[str, ndarray], group: ParamGroup,
                step: int) -> None:
        """Update ``w`` in place from gradient ``g``: one parameter (or all of them, flat)
        whose ``step``-th update this is."""
        raise NotImplementedError

    def _compiled_step(self, grads: list[Any]) -> bool:
        """Update every parameter with its gradient by the compiled loop of
        :mod:`chainrule.optim.kernels` (the same formulas, no temporaries); False, having
        changed nothing, where the optimizer has no compiled rule, numba is missing, or a
        parameter or gradient is not a C-ordered float32/float64 NumPy array of one dtype."""
        run = self._kernel_run
        if run is False:  # decided: the formulas (see kernels.Run.make)
            return False
        if run is not None and run.current(self) and run.step(self, grads):
            return True
        run = self._kernel_run = None if self._rule is None else kernels.Run.make(self, grads)
        if run is None:
            self._kernel_run = False
            return False
        return run.step(self, grads)

    def state_buffer(self, state: dict[str, ndarray], name: str, like: ndarray) -> ndarray:
        """The state array ``name`` of one parameter's ``state`` (made, zeros, at first)."""
        return self._buffer(state, name, like)

    def _buffer(self, state: dict[str, ndarray], name: str, like: ndarray) -> ndarray:
        """The state array ``name`` (zeros at first) for ``state``'s parameter(s)."""
        buf = state.get(name)
        if buf is not None:
            return buf
        xp = namespace(like)
        if self._flat_dtype is None:
            buf = state[name] = xp.zeros_like(like)
            return buf
        # One flat buffer for all parameters; each parameter's state is a view into it.
        self._cut(name, xp.zeros(sum(p.data.size for p in self.params),
                                 dtype=self._flat_dtype))
        return state[name]

    def _cut(self, name: str, flat: ndarray) -> None:
        """Make ``flat`` the flat buffer ``name``, each parameter's state a view into it."""
        self._flat_state[name] = flat
        reshape = namespace(flat).reshape
        offset = 0
        for p, own in zip(self.params, self.state):
            n = p.data.size
            own[name] = reshape(flat[offset:offset + n], p.data.shape)
            offset += n

    # -- saving and restoring ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Settings of every group, step counts and copies of every state buffer (NumPy
        arrays on the host, whatever the parameters' device).

        ``state`` is a list (one dict of arrays per parameter, in order); everything else is
        JSON-ready, which is how checkpoints store it.
        """
        groups = []
        index = 0
        for group in self.param_groups:
            n = len(group["params"])
            settings = {k: (list(v) if isinstance(v, tuple) else v)
                        for k, v in group.items() if k != "params"}
            groups.append({**settings, "params": list(range(index, index + n))})
            index += n
        return {
            "lr": self.lr,
            "initial_lr": self.initial_lr,
            "step_count": self.step_count,
            "steps": list(self.steps),
            "param_groups": groups,
            "state": [{k: host_copy(v) for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (for the same parameters, in order).

        Every field is checked before anything changes: ConfigError names the one that does
        not fit this optimizer.
        """
        who = f"{type(self).__name__}.load_state_dict"
        self._kernel_run = None  # new state buffers: the compiled update's arrays made again
        n = len(self.params)
        saved = state.get("state")
        if not isinstance(saved, (list, tuple)) or len(saved) != n:
            got = len(saved) if isinstance(saved, (list, tuple)) else type(saved).__name__
            raise ConfigError(f"{who}: the state is for {got} parameters, this optimizer "
                              f"has {n}")
        step_count = state.get("step_count")
        if type(step_count) is not int or step_count < 0:
            raise ConfigError(f"{who}: step_count must be an integer >= 0, got "
                              f"{step_count!r}")
        buffers = self._checked_buffers(saved, who)
        steps = state.get("steps")
        if steps is None:  # an older state: one step count for every parameter with buffers
            steps = [step_count if b else 0 for b in buffers]
        if (not isinstance(steps, (list, tuple)) or len(steps) != n
                or any(type(s) is not int or not 0 <= s <= step_count for s in steps)):
            raise ConfigError(f"{who}: steps must be {n} integers in [0, step_count], got "
                              f"{steps!r:.200}")
        groups = self._checked_groups(state, who)
        initial_lr = number(state.get("initial_lr", groups[0]["lr"]), "initial_lr", who)
        for group, settings in zip(self.param_groups, groups):
            group.update(settings)
        self.initial_lr = initial_lr
        self.step_count = step_count
        self.steps[:] = steps
        self._steps_equal = len(set(steps)) == 1
        if [type(p.data) for p in self.params] != self._array_types:
            self._follow_devices()
        for p, own, saved_buffers in zip(self.params, self.state, buffers):
            for name in list(own):
                if name not in saved_buffers:
                    own[name][...] = 0
            for name, value in saved_buffers.items():
                buf = self._buffer(own, name, p.data)
                if type(buf) is ndarray:
                    buf[...] = value
                else:  # cast on the host, then one copy to the parameter's device
                    buf[...] = to_device(value.astype(_dtype_name(buf.dtype)), device_of(buf))

    def _checked_buffers(self, saved: Any, who: str) -> list[dict[str, ndarray]]:
        out = []
        for i, (p, buffers) in enumerate(zip(self.params, saved)):
            if not isinstance(buffers, dict):
                raise ConfigError(f"{who}: the state of parameter {i} must be a dict of arrays")
            own = {}
            for name, value in buffers.items():
                name = _LEGACY_NAMES.get(name, name)
                if name not in self.buffers:
                    raise ConfigError(f"{who}: unknown buffer {name!r} for parameter {i}; "
                                      f"{type(self).__name__} keeps "
                                      f"{', '.join(self.buffers) or 'none'}")
                # checked on the host (a checkpoint's arrays are NumPy's)
                xp = NUMPY
                arr = to_numpy(value) if is_array(value) else xp.asarray(value)
                dtype = _dtype_name(p.data.dtype)
                if arr.shape != p.data.shape or arr.dtype.kind != "f":
                    raise ConfigError(f"{who}: buffer {name!r} of parameter {i} has shape "
                                      f"{arr.shape} and dtype {arr.dtype}; the parameter has "
                                      f"shape {p.data.shape} (floating point)")
                # checked as the parameter's dtype holds it: 1e300 saved as float64 would
                # become inf in a float32 buffer
                with xp.errstate(over="ignore"):
                    cast = arr.astype(dtype)
                if not xp.isfinite(cast).all():
                    raise ConfigError(f"{who}: buffer {name!r} of parameter {i} holds "
                                      f"non-finite values (as {dtype})")
                if name in self.nonnegative_buffers and (cast < 0).any():
                    raise ConfigError(f"{who}: buffer {name!r} of parameter {i} holds "
                                      "negative values; it is an average of squares")
                own[name] = arr
            out.append(own)
        return out

    def _checked_groups(self, state: dict[str, Any], who: str) -> list[ParamGroup]:
        groups = state.get("param_groups")
        if groups is None:  # an older state: one learning rate for every parameter
            lr = number(state.get("lr"), "lr", who)
            return [{"lr": lr} for _ in self.param_groups]
        if not isinstance(groups, (list, tuple)) or len(groups) != len(self.param_groups):
            got = len(groups) if isinstance(groups, (list, tuple)) else repr(groups)
            raise ConfigError(f"{who}: the state has {got} parameter groups, this optimizer "
                              f"has {len(self.param_groups)}")
        out = []
        index = 0
        for k, (group, saved) in enumerate(zip(self.param_groups, groups)):
            count = len(group["params"])
            if not isinstance(saved, dict) or \
                    list(saved.get("params", ())) != list(range(index, index + count)):
                raise ConfigError(f"{who}: parameter group {k} holds other parameters than "
                                  "this optimizer's")
            index += count
            settings = {key: saved.get(key, group[key]) for key in group if key != "params"}
            if "initial_lr" in saved:
                settings["initial_lr"] = number(saved["initial_lr"], "initial_lr", who)
            for key, value in settings.items():
                if isinstance(value, list):
                    settings[key] = tuple(value)
            trial = {**settings, "params": group["params"]}
            try:
                self._check(trial)
            except ConfigError as err:
                raise ConfigError(f"{who}: parameter group {k}: {err}") from None
            trial.pop("params")
            out.append(trial)
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(lr={self.lr}, {len(self.params)} parameters in "
                f"{len(self.param_groups)} group{'s' * (len(self.param_groups) != 1)})")


def host_copy(a: Any) -> ndarray:
    """A NumPy copy of array ``a`` (read back from its device, or copied on the CPU)."""
    host = to_numpy(a)
    return host.copy() if host is a else host


def _dtype_name(dtype: Any) -> str:
    return str(dtype).rpartition(".")[2]  # 'float32' from NumPy's and the others' dtypes


def check_betas(group: ParamGroup, who: str) -> None:
    """Both betas numbers in [0, 1), as a tuple."""
    betas = group["betas"]
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise ConfigError(f"{who}: betas must be a pair of numbers in [0, 1), got {betas!r}")
    group["betas"] = (number(betas[0], "betas[0]", who, 0.0, 1.0),
                      number(betas[1], "betas[1]", who, 0.0, 1.0))

