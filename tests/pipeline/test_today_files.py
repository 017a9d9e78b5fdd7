"""Model files written before the pipeline package (the nine-key ``preprocessing`` dict, by
the chainrule of ``fixtures/written_by.txt``; ``fixtures/make_today.py`` wrote them) load and
predict what that chainrule predicted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from chainrule.predictor import Predictor  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def _rows(name: str):
    if name == "moons":
        return np.load(FIXTURES / "moons_rows.npy")
    return pd.read_csv(FIXTURES / "rows.csv")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_model_file_of_today_predicts_the_same(name: str) -> None:
    pred = Predictor.load(FIXTURES / f"{name}.safetensors")
    want = EXPECTED[name]
    got = pred.predict(_rows(name))
    if pred.task.is_classifier:
        assert got.tolist() == want["predict"]
        np.testing.assert_allclose(pred.predict_proba(_rows(name)), want["predict_proba"],
                                   rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_allclose(got, want["predict"], rtol=1e-12)
