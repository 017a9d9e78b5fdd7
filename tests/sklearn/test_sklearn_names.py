"""The scikit-learn face names its hidden activations in scikit-learn's words; each one is an
activation of chainrule's one table, and computes what that activation's layer computes."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.engine import Tensor
from chainrule.nn import activations
from chainrule.sklearn import network, params


def test_every_scikit_learn_activation_is_one_of_the_table():
    assert set(network.SKLEARN_ACTIVATIONS.values()) <= set(activations.ACTIVATIONS)
    assert set(network.HIDDEN_ACTIVATIONS) == set(network.SKLEARN_ACTIVATIONS)
    allowed = params.PARAMETER_CONSTRAINTS["activation"][0].options
    assert set(allowed) == set(network.SKLEARN_ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(network.SKLEARN_ACTIVATIONS))
def test_a_hidden_activation_computes_what_its_layer_computes(name):
    x = np.linspace(-3.0, 3.0, 13).reshape(1, -1)
    layer = activations.get(network.SKLEARN_ACTIVATIONS[name])()
    np.testing.assert_array_equal(network.HIDDEN_ACTIVATIONS[name](Tensor(x)).data,
                                  layer(Tensor(x)).data)
