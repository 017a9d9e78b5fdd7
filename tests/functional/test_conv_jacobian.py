"""The Jacobian and Hessian of a conv layer (stride 2, padding, two groups) from
cr.functional, against torch.autograd.functional and JAX's jacrev/hessian in float64."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from conftest import needs_torch

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                               reason="JAX is not installed")
RNG = np.random.default_rng(3)
X = RNG.normal(size=(1, 2, 5, 5))
W = RNG.normal(size=(4, 1, 3, 3))                 # 4 filters over 2 groups of 1 channel
B = RNG.normal(size=4)


def _ours(x, w):
    return F.conv2d(x, w, cr.tensor(B), stride=2, padding=1, groups=2)


@needs_torch
def test_conv_jacobian_and_hessian_match_torch() -> None:
    import torch
    from torch.autograd.functional import hessian, jacobian

    def theirs(x, w):
        return torch.nn.functional.conv2d(x, w, torch.tensor(B), stride=2, padding=1, groups=2)

    jx, jw = cr.functional.jacobian(_ours, (cr.tensor(X), cr.tensor(W)))
    tx, tw = jacobian(theirs, (torch.tensor(X), torch.tensor(W)))
    np.testing.assert_allclose(jx.data, tx.numpy(), atol=1e-10)
    np.testing.assert_allclose(jw.data, tw.numpy(), atol=1e-10)

    def ours_loss(x, w):
        return (_ours(x, w).tanh() ** 2).sum()

    def their_loss(x, w):
        return (theirs(x, w).tanh() ** 2).sum()

    ours = cr.functional.hessian(ours_loss, (cr.tensor(X), cr.tensor(W)))
    ref = hessian(their_loss, (torch.tensor(X), torch.tensor(W)))
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(ours[i][j].data, ref[i][j].numpy(), atol=1e-10)




@needs_jax
def test_conv_jacobian_and_hessian_match_jax() -> None:
    import jax
    from jax import lax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def theirs(x, w):
        out = lax.conv_general_dilated(x, w, window_strides=(2, 2), padding=((1, 1), (1, 1)),
                                       feature_group_count=2)
        return out + jnp.asarray(B)[None, :, None, None]

    jx, jw = cr.functional.jacobian(_ours, (cr.tensor(X), cr.tensor(W)))
    rx, rw = jax.jacrev(theirs, argnums=(0, 1))(jnp.asarray(X), jnp.asarray(W))
    np.testing.assert_allclose(jx.data, np.asarray(rx), atol=1e-10)
    np.testing.assert_allclose(jw.data, np.asarray(rw), atol=1e-10)

    ours = cr.functional.hessian(lambda x, w: (_ours(x, w).tanh() ** 2).sum(),
                                 (cr.tensor(X), cr.tensor(W)))
    ref = jax.hessian(lambda x, w: (jnp.tanh(theirs(x, w)) ** 2).sum(), argnums=(0, 1))(
        jnp.asarray(X), jnp.asarray(W))
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(ours[i][j].data, np.asarray(ref[i][j]), atol=1e-10)
