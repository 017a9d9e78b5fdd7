"""Which loss goes with which output, and how outputs become classes and probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.training import tasks


def _reference_sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))  # never overflows


def test_probabilities_from_logits_are_stable_for_huge_logits() -> None:
    z = np.array([[-1000.0], [-30.0], [0.0], [30.0], [1000.0]])
    p = tasks.get("binary_logits").probabilities(z)
    np.testing.assert_allclose(p[:, 1], _reference_sigmoid(z[:, 0]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = tasks.get("multiclass").probabilities(z)
    assert np.isfinite(p).all()
    e = np.exp(z[1] - z[1].max())
    np.testing.assert_allclose(p[1], e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(p[0], [1.0, 0.0, 0.0])


def test_probability_outputs_pass_through() -> None:
    p = np.array([[0.2], [0.9]])
    np.testing.assert_allclose(tasks.get("binary").probabilities(p), [[0.8, 0.2], [0.1, 0.9]])
    assert tasks.get("binary").classes(p).tolist() == [0, 1]
    rows = np.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_array_equal(tasks.get("multiclass_probs").probabilities(rows), rows)
    multi = np.array([[0.2, 0.7], [0.9, 0.1]])  # several yes/no columns stay per column
    assert tasks.get("binary").classes(multi).tolist() == [[0, 1], [1, 0]]


def test_logit_threshold_is_zero() -> None:
    assert tasks.get("binary_logits").classes(np.array([[-1e-9], [1e-9]])).tolist() == [0, 1]


def test_infer_from_last_layer_and_loss() -> None:
    lin = nn.Sequential(nn.Linear(2, 1, rng=0))
    assert tasks.infer(nn.Sequential(nn.Linear(2, 1, rng=0), nn.Sigmoid())).name == "binary"
    assert tasks.infer(nn.Sequential(nn.Linear(2, 3, rng=0), nn.Softmax())).name == \
        "multiclass_probs"
    assert tasks.infer(lin, "bce_with_logits").name == "binary_logits"
    assert tasks.infer(lin, nn.CrossEntropyLoss()).name == "multiclass"
    assert tasks.infer(lin, "mse").name == "regression"
    assert tasks.infer(lin, classification=True).name == "binary_logits"
    assert tasks.infer(nn.Sequential(nn.Linear(2, 4, rng=0)),
                       classification=True).name == "multiclass"


def test_new_network_for_a_target() -> None:
    binary = tasks.for_target("classification", 2)
    assert (binary.loss, binary.output, binary.n_outputs(2)) == ("bce", "sigmoid", 1)
    multi = tasks.for_target("classification", 5)
    assert (multi.loss, multi.output, multi.n_outputs(5)) == ("cross_entropy", "identity", 5)
    reg = tasks.for_target("regression")
    assert (reg.loss, reg.output, reg.n_outputs()) == ("mse", "identity", 1)
    with pytest.raises(ConfigError, match="at least two classes"):
        tasks.for_target("classification", 1)


def test_default_loss() -> None:
    lin = nn.Sequential(nn.Linear(2, 1, rng=0))
    assert tasks.default_loss(nn.Sequential(lin, nn.Sigmoid()), np.zeros(3)) == "bce"
    assert tasks.default_loss(lin, np.zeros(3, dtype=int)) == "cross_entropy"
    assert tasks.default_loss(lin, np.zeros(3)) == "mse"


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="choose one of binary, binary_logits, multiclass"):
        tasks.get("logistic")
    with pytest.raises(ConfigError, match="no class probabilities"):
        tasks.get("regression").probabilities(np.zeros((2, 1)))


def test_target_classes() -> None:
    assert tasks.get("multiclass").target_classes(np.array([[0, 1, 0], [1, 0, 0]])).tolist() \
        == [1, 0]
    assert tasks.get("binary").target_classes(np.array([[1.0], [0.0]])).tolist() == [1, 0]
