"""The playground's choices name chainrule's one table for each vocabulary: its activations
are keys of the activation table, its outputs' losses keys of the loss table, its optimizer
choices classes of the optimizer table."""

from __future__ import annotations

import pytest

from chainrule import nn, optim
from chainrule.nn import activations, losses
from chainrule.playground import config, recipe
from chainrule.playground.config import RunConfig


def test_the_offered_activations_are_keys_of_the_activation_table():
    assert set(config.ACTIVATIONS) <= set(activations.ACTIVATIONS)
    assert set(recipe.LAYER_OPTIONS) <= set(config.ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(config.ACTIVATIONS))
def test_an_activation_layer_builds_and_prints_the_same_class(name):
    spec = recipe.LayerSpec(name)
    layer = spec.build(None)
    assert isinstance(layer, activations.get(name))
    assert spec.source().startswith(f"nn.{type(layer).__name__}(")


def test_each_output_choice_has_a_loss_of_the_loss_table():
    assert set(recipe.OUTPUT_LOSSES) == set(config.OUTPUTS) - {"auto"}
    for output, key in recipe.OUTPUT_LOSSES.items():
        assert key in losses.LOSSES
        assert isinstance(recipe.build_loss(output), losses.get(key))
        assert recipe.loss_call(output) == f"nn.{losses.get(key).__name__}()"


@pytest.mark.parametrize("choice", sorted(config.OPTIMIZERS))
def test_each_optimizer_choice_is_a_class_of_the_optimizer_table(choice):
    assert set(recipe.OPTIMIZER_CHOICES) == set(config.OPTIMIZERS)
    name, options = recipe.OPTIMIZER_CHOICES[choice]
    cls = optim.registry.get(name)
    model = nn.Linear(2, 1)
    cfg = RunConfig(optimizer=choice, lr=0.5)
    built = recipe.build_optimizer(cfg, model)
    assert type(built) is cls and built.lr == 0.5
    code = recipe.optimizer_call(cfg)
    assert code.startswith(f"cr.optim.{cls.__name__}(model.parameters()")
    assert all(f"{k}={v!r}" in code for k, v in options.items())
