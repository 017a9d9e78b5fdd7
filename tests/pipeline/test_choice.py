"""Which model ``chainrule train`` keeps (chainrule.pipeline.choice), on real tables shipped
by ISLP: the linear model where it truly does better on rows no model saw (the test split),
the network where it does; the choice is told, saved, and the kept model predicts, reloads
and exports like any other."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from chainrule.pipeline import choice
from chainrule.workflow import Predictor, TrainConfig, train

pd = pytest.importorskip("pandas")


def _islp(name: str) -> Path:
    """A data file of the ISLP package (found, not imported: its __init__ needs PyTorch)."""
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs ISLP's data files (pip install --no-deps ISLP)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


def _run(tmp_path: Path, name: str, target: str, **options):
    return train(TrainConfig(data=str(_islp(name)), target=target, val_split=0.2,
                             test_split=0.2, plots=False, out=str(tmp_path / "run"), **options))


def _test_loss(result) -> float:
    test = result.metrics["test"]
    return test["log_loss"] if result.task == "classification" else test["mse"]


# (file, target, the model that does better on the test rows)
CASES = [
    ("Carseats.csv", "Sales", "linear"),      # sales nearly linear in price, shelf, advertising
    ("OJ.csv", "Purchase", "linear"),         # brand loyalty and the price difference
    ("Boston.csv", "medv", "network"),        # house values bend with lstat and rm
    ("Publication.csv", "status", "network"),  # publication against time: far from linear
]


@pytest.mark.parametrize(("name", "target", "better"), CASES)
def test_the_choice_keeps_the_model_that_does_better_on_rows_it_never_saw(tmp_path, name,
                                                                          target, better):
    kept = _run(tmp_path / "kept", name, target)
    term = kept.summary["linear_term"]
    assert term["kept"] == better, term
    assert term["measured_on"].startswith("5-fold cross-validation of the ")
    # the same network trained alone (an architecture given: no choice), and the linear
    # model alone (no hidden layer: for classes the choice's logistic regression exactly)
    network = _run(tmp_path / "network", name, target, layers=[64])
    linear = _run(tmp_path / "linear", name, target, layers=[])
    assert network.model_choice == "" and "linear_term" not in network.summary
    if better == "linear":
        assert _test_loss(kept) < _test_loss(network)
        if kept.task == "classification":
            assert _test_loss(kept) == pytest.approx(_test_loss(linear), rel=1e-9)
    else:
        assert _test_loss(kept) == pytest.approx(_test_loss(network), rel=1e-9)
        assert _test_loss(kept) < _test_loss(linear)


def test_a_kept_linear_model_is_told_saved_reloaded_and_exported(tmp_path):
    result = _run(tmp_path, "Carseats.csv", "Sales")
    assert result.model_choice.startswith("the ridge regression (penalty 1) alone (mean "
                                          "squared error (standardised target) ")
    assert "by 5-fold cross-validation of the 240 training rows; the network " in \
        result.model_choice
    pred = Predictor.load(result.path)
    assert pred.meta["training"]["linear_term"] == result.summary["linear_term"]
    assert pred.meta["training"]["hidden_layers"] == []
    assert pred.meta["training"]["architecture"] == [12, 1]
    frame = pd.read_csv(_islp("Carseats.csv"))
    got = pred.predict(frame)
    scored = pred.score(frame.iloc[result.rows["test"]],
                        frame["Sales"].to_numpy()[result.rows["test"]])
    assert scored["r2"] == pytest.approx(result.metrics["test"]["r2"], rel=1e-6)
    ort = pytest.importorskip("onnxruntime")
    from chainrule.onnx import export_onnx

    proto = export_onnx(pred, tmp_path / "m.onnx")
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    numbers = ["CompPrice", "Income", "Advertising", "Population", "Price", "Age",
               "Education", "Urban", "US"]
    features = frame[numbers].replace({"Yes": 1.0, "No": 0.0}).to_numpy(np.float32)
    out = session.run(None, {"features": features,
                             "ShelveLoc": frame[["ShelveLoc"]].to_numpy().astype(str)})
    np.testing.assert_allclose(out[0].ravel(), np.ravel(got), rtol=1e-4, atol=1e-3)


def test_a_larger_table_is_judged_on_its_validation_rows(tmp_path):
    # Caravan: 5,822 rows, 3,492 of them training rows, past the cross-validated size
    result = _run(tmp_path, "Caravan.csv", "Purchase")
    term = result.summary["linear_term"]
    assert len(result.rows["train"]) > choice.CROSS_VALIDATE_UP_TO
    assert term["measured_on"] == "the 1,165 validation rows"
    assert term["kept"] == min(term["losses"], key=term["losses"].get)


def test_the_line_names_what_was_kept_and_the_others_losses():
    losses = {"network": 0.5, "averaged": 0.45, "linear": 0.4}
    for kept, start in (("network", "the network alone (log loss 0.5 by 3 folds; the "
                                    "ridge 0.4, both averaged 0.45)"),
                        ("averaged", "the network averaged with a ridge, as one network of "
                                     "70 hidden units (log loss 0.45 by 3 folds; the "
                                     "network alone 0.5, the linear model alone 0.4)"),
                        ("linear", "the ridge alone (log loss 0.4 by 3 folds; the network "
                                   "0.5, both averaged 0.45)")):
        made = choice.Choice(kept, losses, "log loss", "3 folds", "ridge",
                             [] if kept == "linear" else [70])
        assert made.line() == start
        assert made.record() == {"linear_model": "ridge", "kept": kept,
                                 "averaged": kept == "averaged", "loss": "log loss",
                                 "measured_on": "3 folds", "losses": losses}


def test_a_table_with_fewer_training_rows_than_folds_is_still_judged(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,0.5\n2,3,1.5\n3,1,0.7\n4,4,2.0\n5,2,1.1\n")
    result = train(TrainConfig(data=str(tmp_path / "t.csv"), target="y", plots=False,
                               out=str(tmp_path / "run")))
    term = result.summary["linear_term"]
    assert term["measured_on"] == "5-fold cross-validation of the 4 training rows"
    assert all(np.isfinite(v) for v in term["losses"].values())
