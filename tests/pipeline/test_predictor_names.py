"""A predictor keeps every public name it had before it became a Pipeline: scripts that read
``Predictor.load(path).target_scaler`` and the rest still work."""

from pathlib import Path

import pytest

from chainrule.predictor import Predictor

FIXTURES = Path(__file__).parent / "fixtures"

NAMES = ["class_names", "classes_of", "encode", "encoder", "feature_names", "kind", "load",
         "meta", "metrics", "model", "n_inputs", "outputs", "path", "predict", "predict_proba",
         "preprocessing", "scaler", "score", "target", "target_scaler", "task", "unknown",
         "unknown_policy"]


@pytest.mark.parametrize("name", ["binary", "multiclass", "regression", "moons"])
def test_every_name_a_predictor_had(name):
    pred = Predictor.load(FIXTURES / f"{name}.safetensors")
    for attr in NAMES:
        getattr(pred, attr)


def test_target_scaler_is_the_files_entry():
    reg = Predictor.load(FIXTURES / "regression.safetensors")
    stored = reg.meta["preprocessing"]["target_scaler"]
    assert reg.target_scaler == stored
    assert set(stored) == {"mean", "scale"}
    assert Predictor.load(FIXTURES / "binary.safetensors").target_scaler is None
