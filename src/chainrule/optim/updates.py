"""The optimizers' update rules as compiled loops (numba), for :meth:`Optimizer.step
<chainrule.optim.optimizer.Optimizer.step>` on NumPy parameters (:mod:`chainrule.optim.kernels`)
and the training step kernel (:mod:`chainrule.training.kernel`).

Each rule is the optimizer's own (``optim/optimizers.py``) in its order of operations, one
element at a time over the flat parameter, gradient and state arrays, with every setting
computed in float64 as Python does and then cast to the parameters' dtype, as NumPy casts a
Python float in ``w -= lr * g``: in float64 the kernel's weights equal the eager optimizer's
to rounding.  ``hp`` holds the settings in the slots of :data:`chainrule.optim.kernels.SLOTS`;
the state arrays are S0, S1, S2 in the order of the optimizer's ``update_rule``.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

__all__ = ["update"]


@numba.njit(cache=True, error_model="numpy")
def update(P: Any, G: Any, S0: Any, S1: Any, S2: Any, hp: Any, kind: int,
           cast: Any) -> None:
    """One optimizer update of every parameter, in the optimizer's own order of
    operations (optim/optimizers.py), the settings cast to the parameters' dtype."""
    lr, wd, t = hp[0], hp[1], hp[12]
    maximize = hp[5] != 0
    cast[0] = lr
    lr_c = cast[0]
    cast[0] = wd
    wd_c = cast[0]
    if kind == 0:  # SGD
        mom = hp[2]
        cast[0] = mom
        mom_c = cast[0]
        cast[0] = 1 - hp[3]
        damp_c = cast[0]
        nesterov = hp[4] != 0
        for i in range(P.size):
            g = -G[i] if maximize else G[i]
            if wd != 0:
                g = g + wd_c * P[i]
            if mom != 0:
                if t == 1:
                    S0[i] = g
                else:
                    S0[i] *= mom_c
                    S0[i] += damp_c * g if hp[3] != 0 else g
                g = g + mom_c * S0[i] if nesterov else S0[i]
            P[i] -= lr_c * g
    elif kind == 1:  # Adam, AdamW
        b1, b2 = hp[6], hp[7]
        cast[0] = b1
        b1_c = cast[0]
        cast[0] = 1 - b1
        nb1_c = cast[0]
        cast[0] = b2
        b2_c = cast[0]
        cast[0] = 1 - b2
        nb2_c = cast[0]
        cast[0] = math.sqrt(1 - b2 ** t)
        bc2_c = cast[0]
        cast[0] = hp[8]
        eps_c = cast[0]
        cast[0] = lr / (1 - b1 ** t)
        step_c = cast[0]
        cast[0] = 1 - lr * wd
        shrink_c = cast[0]
        decoupled = hp[10] != 0
        amsgrad = hp[9] != 0
        if not maximize and wd == 0 and not amsgrad:
            # the usual settings, in a loop without branches (2,410 parameters: 1.5 us,
            # against 2.3 us in the general loop below)
            for i in range(P.size):
                g = G[i]
                S0[i] *= b1_c
                S0[i] += nb1_c * g
                S1[i] *= b2_c
                S1[i] += nb2_c * (g * g)
                denom = np.sqrt(S1[i])
                denom /= bc2_c
                denom += eps_c
                P[i] -= step_c * (S0[i] / denom)
            return
        for i in range(P.size):
            g = -G[i] if maximize else G[i]
            if wd != 0:
                if decoupled:
                    P[i] *= shrink_c
                else:
                    g = g + wd_c * P[i]
            S0[i] *= b1_c
            S0[i] += nb1_c * g
            S1[i] *= b2_c
            S1[i] += nb2_c * (g * g)
            v = S1[i]
            if amsgrad:
                S2[i] = max(S2[i], v)
                v = S2[i]
            denom = np.sqrt(v)
            denom /= bc2_c
            denom += eps_c
            P[i] -= step_c * (S0[i] / denom)
    elif kind == 2:  # RMSprop (its alpha in beta1's slot)
        alpha = hp[6]
        cast[0] = alpha
        alpha_c = cast[0]
        cast[0] = 1 - alpha
        nalpha_c = cast[0]
        cast[0] = hp[8]
        eps_c = cast[0]
        cast[0] = hp[2]
        mom_c = cast[0]
        centered = hp[11] != 0
        for i in range(P.size):
            g = -G[i] if maximize else G[i]
            if wd != 0:
                g = g + wd_c * P[i]
            S0[i] *= alpha_c
            S0[i] += nalpha_c * (g * g)
            if centered:
                S1[i] *= alpha_c
                S1[i] += nalpha_c * g
                denom = np.sqrt(S0[i] - S1[i] * S1[i])
            else:
                denom = np.sqrt(S0[i])
            denom += eps_c
            if hp[2] > 0:
                S2[i] *= mom_c
                S2[i] += g / denom
                P[i] -= lr_c * S2[i]
            else:
                P[i] -= lr_c * (g / denom)
