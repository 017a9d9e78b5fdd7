"""``chainrule train`` and ``chainrule evaluate`` report a classifier honestly: the majority
class's accuracy beside the model's, balanced accuracy, per-class numbers, ROC AUC and the
confusion matrix; ``evaluate`` says which rows it scored and, on a built-in data set, scores
the rows the training held out.  The numbers are checked against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli.app import main
from chainrule.data import load_dataset
from chainrule.errors import ConfigError
from chainrule.predictor import Predictor, scored_rows

metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """breast_cancer (two classes) with a test split, iris (three) without one."""
    d = tmp_path_factory.mktemp("runs")
    for name, extra in (("breast_cancer", ["--test-split", "0.25"]), ("iris", [])):
        args = ["train", "--dataset", name, "--epochs", "15", "--no-plots", "--seed", "3",
                "--out", str(d / name), "-q", *extra]
        assert main([*args, "--json"]) == 0
    return d


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_train_json_adds_flat_scores_per_split_and_a_class_report(runs: Path, capsys) -> None:
    got = _json(capsys, "train", "--dataset", "breast_cancer", "--epochs", "15", "--no-plots",
                "--seed", "3", "--test-split", "0.25", "--out", str(runs / "again"), "--json")
    assert set(got) == {"train", "validation", "test", "class_report"}
    for part in ("train", "validation", "test"):
        m = got[part]
        assert {"accuracy", "log_loss", "n", "baseline_accuracy", "balanced_accuracy",
                "f1_macro", "roc_auc"} <= set(m)
        assert all(isinstance(v, (int, float)) for v in m.values())  # flat: pytest.approx-able
        cr = got["class_report"][part]
        assert cr["classes"] == ["malignant", "benign"] and cr["baseline_class"] == "benign"
        assert sum(cr["support"]) == m["n"] == int(np.sum(cr["confusion_matrix"]))
        # always 'benign' (the training rows' majority) scores its share of these rows
        assert m["baseline_accuracy"] == pytest.approx(cr["support"][1] / m["n"])


def test_evaluate_scores_the_held_out_test_rows_as_training_did(runs: Path, capsys) -> None:
    model = str(runs / "breast_cancer" / "model.safetensors")
    trained = Predictor.load(model).meta["training"]["results"]["test"]
    got = _json(capsys, "evaluate", model, "--dataset", "breast_cancer", "--json")
    assert got["rows"] == "test" and got["n"] == trained["n"] == 142
    for key in ("accuracy", "log_loss", "balanced_accuracy", "roc_auc", "baseline_accuracy"):
        assert got[key] == pytest.approx(trained[key], rel=1e-6), key
    assert "142 of the 569 rows of breast_cancer" in got["rows_scored"]


def test_evaluate_numbers_agree_with_sklearn(runs: Path, capsys) -> None:
    model = str(runs / "breast_cancer" / "model.safetensors")
    pred = Predictor.load(model)
    picked = scored_rows(pred, dataset="breast_cancer")
    proba = pred.predict_proba(picked.X, encoded=True)
    y, hat = picked.y, proba.argmax(axis=1)
    got = _json(capsys, "evaluate", model, "--dataset", "breast_cancer", "--json")
    assert got["balanced_accuracy"] == pytest.approx(metrics.balanced_accuracy_score(y, hat))
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, proba[:, 1]))
    assert got["f1_macro"] == pytest.approx(metrics.f1_score(y, hat, average="macro"))
    p, r, f, s = metrics.precision_recall_fscore_support(y, hat, zero_division=0)
    cr = got["class_report"]
    np.testing.assert_allclose([cr["precision"], cr["recall"], cr["f1"]], [p, r, f])
    assert cr["support"] == s.tolist()
    assert cr["confusion_matrix"] == metrics.confusion_matrix(y, hat).tolist()


def test_evaluate_text_says_which_rows_and_shows_the_baseline(runs: Path, capsys) -> None:
    model = str(runs / "iris" / "model.safetensors")
    capsys.readouterr()
    assert main(["evaluate", model, "--dataset", "iris"]) == 0
    out = capsys.readouterr().out
    # no test split: the validation rows are the held-out ones
    assert "rows:  the validation rows held out in training: 30 of the 150 rows of iris" in out
    assert "(always 'setosa': 33.3%)" in out
    assert "balanced accuracy" in out and "confusion matrix (rows: true class" in out
    lines = out.splitlines()
    header = lines.index("confusion matrix (rows: true class, columns: predicted):") + 1
    assert lines[header].split() == ["setosa", "versicolor", "virginica"]
    assert sum(int(v) for ln in lines[header + 1:header + 4] for v in ln.split()[1:]) == 30
    assert "ROC AUC" not in out  # three classes


def test_split_all_and_train_are_explicit(runs: Path, capsys) -> None:
    model = str(runs / "iris" / "model.safetensors")
    for split, n in (("all", 150), ("train", 120)):
        assert _json(capsys, "evaluate", model, "--dataset", "iris", "--split", split,
                     "--json")["n"] == n
    assert main(["evaluate", model, "--dataset", "iris", "--split", "test"]) == 1
    assert "held out no test rows of iris; choose validation, train, all" in \
        capsys.readouterr().err


def test_json_keeps_its_first_keys(runs: Path, capsys) -> None:
    model = str(runs / "iris" / "model.safetensors")
    assert {"accuracy", "log_loss", "n"} <= set(
        _json(capsys, "evaluate", model, "--dataset", "iris", "--json"))


def test_rows_that_cannot_be_picked_are_all_scored_with_the_reason(runs: Path) -> None:
    pred = Predictor.load(runs / "iris" / "model.safetensors")
    del pred.meta["training"]["seed"]
    picked = scored_rows(pred, dataset="iris")
    assert picked.rows == "all" and len(picked.y) == 150
    assert "does not record how its training split the rows" in picked.description
    with pytest.raises(ConfigError, match="cannot pick the validation rows"):
        scored_rows(pred, dataset="iris", rows="validation")


def test_a_table_is_scored_whole(runs: Path, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    ds = load_dataset("iris")
    frame = pd.DataFrame(ds.X, columns=ds.feature_names)
    pred = Predictor.load(runs / "iris" / "model.safetensors")
    frame[pred.target or "target"] = np.array(ds.class_names)[ds.y]
    with pytest.raises(ConfigError, match="a data table is scored whole"):
        scored_rows(pred, frame, target=pred.target or "target", rows="test")
