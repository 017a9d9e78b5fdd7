"""L-BFGS: a quasi-Newton method that needs the loss again at new points, so ``step(closure)``.

The algorithm is PyTorch's ``torch.optim.LBFGS`` (itself after minFunc): up to ``max_iter``
iterations per ``step``, each a two-loop recursion over the last ``history_size`` curvature
pairs, then a fixed step of ``lr`` or a strong-Wolfe line search (``line_search_fn=
'strong_wolfe'``, cubic interpolation in a bracket).  All parameters are treated as one flat
vector, so there is one parameter group.

>>> import chainrule as cr
>>> w = cr.tensor([3.0, -1.0], requires_grad=True)
>>> opt = cr.optim.LBFGS([w], line_search_fn="strong_wolfe")
>>> def closure():
...     opt.zero_grad()
...     loss = ((w - 1.0) ** 2).sum()
...     loss.backward()
...     return loss
>>> _ = opt.step(closure)
>>> [round(float(v), 6) for v in w.data]
[1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..engine import Tensor
from ..engine.backend import NUMPY, is_array, namespace, ndarray
from ..engine.devices import device_of, to_device, to_numpy
from ..errors import ConfigError
from .optimizer import Optimizer, ParamGroup, as_float, grad_array, host_copy

__all__ = ["LBFGS"]

Objective = Callable[[ndarray, float, ndarray], tuple[float, ndarray]]


def _cubic_minimum(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                   bounds: tuple[float, float] | None = None) -> float:
    """The minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2), clipped
    to ``bounds`` (default: between x1 and x2); the middle if the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = disc**0.5
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, lo), hi)


def _strong_wolfe(objective: Objective, x: ndarray, t: float, d: ndarray, f: float,
                  g: ndarray, gtd: float, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9,
                  max_ls: int = 25) -> tuple[float, ndarray, float, int]:
    """A step ``t`` along ``d`` meeting the strong Wolfe conditions (sufficient decrease c1,
    curvature c2); returns (loss, gradient, t, evaluations)."""
    xp = namespace(d)
    d_norm = float(xp.max(xp.abs(d)))
    g = xp.asarray(g, copy=True)
    f_new, g_new = objective(x, t, d)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    # Phase 1: grow the step until an interval [t_prev, t] brackets a good point.
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[ndarray] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, xp.asarray(g_new, copy=True)], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, xp.asarray(g_new, copy=True)], [gtd_prev, gtd_new]
            break
        t_next = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, xp.asarray(g_new, copy=True), gtd_new
        t = t_next
        f_new, g_new = objective(x, t, d)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
    # Phase 2: shrink the bracket by cubic interpolation until a point satisfies both.
    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], bracket_f[0], bracket_gtd[0],
                           bracket[1], bracket_f[1], bracket_gtd[1])
        # Keep the trial away from the ends: too close to one makes no progress.
        a, b = min(bracket), max(bracket)
        margin = 0.1 * (b - a)
        if min(b - t, t - a) < margin:
            if insufficient or t >= b or t <= a:
                t = b - margin if abs(t - b) < abs(t - a) else a + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = objective(x, t, d)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = xp.asarray(g_new, copy=True), gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = xp.asarray(g_new, copy=True), gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


class LBFGS(Optimizer):
    """Limited-memory BFGS with PyTorch's options and defaults; ``step(closure)`` only.

    ``closure()`` must zero the gradients, compute the loss, call ``backward()`` and return
    the loss.  Each step runs up to ``max_iter`` iterations and ``max_eval`` closure calls
    (default ``max_iter * 5 // 4``), stopping early when the largest gradient entry is at most
    ``tolerance_grad`` or the loss or step changes by less than ``tolerance_change``.

    Args:
        params: The tensors to optimise (``model.parameters()``), or a list of parameter groups,
            dicts with a ``params`` entry and any option to override for that group.
        lr: The step length (1 is the usual choice with a line search).
        max_iter: The most iterations per ``step()``.
        max_eval: The most closure calls per ``step()`` (default ``max_iter * 5 // 4``).
        tolerance_grad: Stop when the largest gradient entry is at most this.
        tolerance_change: Stop when the loss or the step changes by less than this.
        history_size: How many past steps approximate the inverse Hessian.
        line_search_fn: ``"strong_wolfe"`` for a line search, or None for fixed steps.
    """

    flat_capable = False

    def __init__(self, params: Iterable[Tensor] | Iterable[ParamGroup], lr: float = 1.0,
                 max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        if max_eval is None and isinstance(max_iter, int) and not isinstance(max_iter, bool):
            max_eval = max_iter * 5 // 4
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                                  "tolerance_grad": tolerance_grad,
                                  "tolerance_change": tolerance_change,
                                  "history_size": history_size,
                                  "line_search_fn": line_search_fn})
        if len(self.param_groups) != 1:
            raise ConfigError("LBFGS: takes one parameter group (its parameters form one "
                              "vector); give all parameters in one list")
        self._reset()

    def _reset(self) -> None:
        self.func_evals = 0
        self.n_iter = 0
        self._d: ndarray | None = None
        self._t = 0.0
        self._old_dirs: list[ndarray] = []
        self._old_stps: list[ndarray] = []
        self._ro: list[float] = []
        self._H_diag = 1.0
        self._prev_grad: ndarray | None = None
        self._prev_loss: float | None = None

    def _check(self, group: ParamGroup) -> None:
        super()._check(group)
        for name in ("max_iter", "max_eval", "history_size"):
            value = group[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"LBFGS: {name} must be an integer >= 1, got {value!r}")
        self._number(group, "tolerance_grad")
        self._number(group, "tolerance_change")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ConfigError(f"LBFGS: unknown line_search_fn {group['line_search_fn']!r}; "
                              "choose None (a fixed step of lr) or 'strong_wolfe'")

    # -- the parameters as one vector ---------------------------------------------------------
    def _flat_grad(self) -> ndarray:
        grads = [grad_array(p) for p in self.params]
        xp = namespace(self.params[0].data)
        return xp.concat([xp.reshape(g if g is not None else xp.zeros_like(p.data), (-1,))
                          for g, p in zip(grads, self.params)])

    def _add(self, t: float, d: ndarray) -> None:
        reshape = namespace(d).reshape
        offset = 0
        for p in self.params:
            n = p.data.size
            p.data += t * reshape(d[offset:offset + n], p.data.shape)
            offset += n

    def _follow_devices(self) -> None:
        """Move the curvature history to the parameters' device (after ``model.to``)."""
        like = self.params[0].data
        if self._d is not None and type(self._d) is not type(like):
            where = device_of(like)

            def move(a: Any) -> Any:
                return None if a is None else to_device(a, where)
            self._d, self._prev_grad = move(self._d), move(self._prev_grad)
            self._old_dirs = [move(a) for a in self._old_dirs]
            self._old_stps = [move(a) for a in self._old_stps]

    def _evaluate(self, closure: Callable[[], Any], x: list[ndarray], t: float,
                  d: ndarray) -> tuple[float, ndarray]:
        """Loss and gradient at ``x + t d``; the parameters are put back to ``x``."""
        self._add(t, d)
        loss = as_float(closure())
        g = self._flat_grad()
        for p, saved in zip(self.params, x):
            p.data[...] = saved
        return loss, g

    def _direction(self, g: ndarray) -> ndarray:
        """The two-loop recursion: minus the inverse-Hessian estimate times ``g``."""
        dirs, stps, ro = self._old_dirs, self._old_stps, self._ro
        al = [0.0] * len(dirs)
        q = -g
        for i in range(len(dirs) - 1, -1, -1):
            al[i] = float(stps[i] @ q) * ro[i]
            q -= al[i] * dirs[i]
        r = q * self._H_diag
        for i in range(len(dirs)):
            be = float(dirs[i] @ r) * ro[i]
            r += (al[i] - be) * stps[i]
        return r

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` iterations; returns the loss at the starting point."""
        if closure is None:
            raise ConfigError("LBFGS.step needs a closure that zeroes the gradients, computes "
                              "the loss, calls backward() and returns the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        self.step_count += 1
        self._follow_devices()
        xp = namespace(self.params[0].data)
        orig_loss = closure()
        loss = as_float(orig_loss)
        evals = 1
        self.func_evals += 1
        g = self._flat_grad()
        if float(xp.max(xp.abs(g))) <= tol_grad:
            return orig_loss
        d, t = self._d, self._t
        iters = 0
        while iters < max_iter:
            iters += 1
            self.n_iter += 1
            if self.n_iter == 1:
                d = -g
                self._old_dirs, self._old_stps, self._ro, self._H_diag = [], [], [], 1.0
            else:
                assert d is not None and self._prev_grad is not None
                y = g - self._prev_grad
                s = d * t
                ys = float(y @ s)
                if ys > 1e-10:  # keep only pairs with positive curvature
                    if len(self._old_dirs) == group["history_size"]:
                        del self._old_dirs[0], self._old_stps[0], self._ro[0]
                    self._old_dirs.append(y)
                    self._old_stps.append(s)
                    self._ro.append(1.0 / ys)
                    self._H_diag = ys / float(y @ y)
                d = self._direction(g)
            self._prev_grad = xp.asarray(g, copy=True)
            self._prev_loss = loss
            t = min(1.0, 1.0 / float(xp.sum(xp.abs(g)))) * lr if self.n_iter == 1 else lr
            gtd = float(g @ d)
            if gtd > -tol_change:  # not a descent direction
                break
            ls_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [xp.asarray(p.data, copy=True) for p in self.params]

                def objective(x: Any, step: float, direction: ndarray) -> tuple[float, ndarray]:
                    return self._evaluate(closure, x, step, direction)

                loss, g, t, ls_evals = _strong_wolfe(objective, x0, t, d, loss, g, gtd,
                                                     max_ls=max_eval - evals)
                self._add(t, d)
                converged = float(xp.max(xp.abs(g))) <= tol_grad
            else:
                self._add(t, d)
                converged = False
                if iters != max_iter:
                    loss = as_float(closure())
                    g = self._flat_grad()
                    converged = float(xp.max(xp.abs(g))) <= tol_grad
                    ls_evals = 1
            evals += ls_evals
            self.func_evals += ls_evals
            if iters == max_iter or evals >= max_eval or converged:
                break
            if float(xp.max(xp.abs(d * t))) <= tol_change:
                break
            if abs(loss - self._prev_loss) < tol_change:
                break
        self._d, self._t = d, t
        return orig_loss

    # -- saving and restoring -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Settings, counters and the curvature history (host NumPy arrays in
        ``state[0]``)."""
        out = super().state_dict()
        n = sum(p.data.size for p in self.params)
        arrays: dict[str, ndarray] = {}
        if self._d is not None:
            arrays["d"] = host_copy(self._d)
        if self._prev_grad is not None:
            arrays["prev_flat_grad"] = host_copy(self._prev_grad)
        if self._old_dirs:
            xp = namespace(self._old_dirs[0])
            arrays["old_dirs"] = to_numpy(xp.stack(self._old_dirs))
            arrays["old_stps"] = to_numpy(xp.stack(self._old_stps))
        out["state"] = [arrays] + [{} for _ in self.params[1:]]
        out["lbfgs"] = {"func_evals": self.func_evals, "n_iter": self.n_iter, "t": self._t,
                        "ro": list(self._ro), "H_diag": self._H_diag,
                        "prev_loss": self._prev_loss, "n": n}
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        who = "LBFGS.load_state_dict"
        info = state.get("lbfgs")
        saved = state.get("state")
        n = sum(p.data.size for p in self.params)
        if not isinstance(info, dict) or not isinstance(saved, (list, tuple)) or not saved \
                or info.get("n") != n:
            raise ConfigError(f"{who}: not the state of an LBFGS over {n} numbers")
        arrays = {name: to_numpy(a) if is_array(a) else NUMPY.asarray(a)
                  for name, a in saved[0].items()}
        k = len(info.get("ro", []))
        for name, shape in (("d", (n,)), ("prev_flat_grad", (n,)), ("old_dirs", (k, n)),
                            ("old_stps", (k, n))):
            if name in arrays and arrays[name].shape != shape:
                raise ConfigError(f"{who}: {name} has shape {arrays[name].shape}, "
                                  f"expected {shape}")
        rest = {key: value for key, value in state.items() if key not in ("state", "lbfgs")}
        rest["state"] = [{} for _ in self.params]
        super().load_state_dict(rest)
        self._reset()
        self.func_evals, self.n_iter = int(info["func_evals"]), int(info["n_iter"])
        self._t, self._H_diag = float(info["t"]), float(info["H_diag"])
        self._ro = [float(v) for v in info["ro"]]
        self._prev_loss = None if info["prev_loss"] is None else float(info["prev_loss"])
        where = device_of(self.params[0].data)

        def load(a: ndarray) -> Any:  # a copy, on the parameters' device
            return to_device(NUMPY.array(a, copy=True), where)
        self._d = load(arrays["d"]) if "d" in arrays else None
        self._prev_grad = load(arrays["prev_flat_grad"]) if "prev_flat_grad" in arrays \
            else None
        self._old_dirs = [load(r) for r in arrays.get("old_dirs", [])]
        self._old_stps = [load(r) for r in arrays.get("old_stps", [])]
