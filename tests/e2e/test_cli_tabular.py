"""A real CSV file through the command line, as a user runs it: train -> save -> predict on new
rows (unseen categories, missing values) -> evaluate, each checked against pandas, NumPy and
scikit-learn by hand; exit statuses, JSON output, class weights and clean failures."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
metrics = pytest.importorskip("sklearn.metrics")

import chainrule as cr  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
ISLANDS = ["Torgersen", "Biscoe", "Dream"]


def run(*args: str, cwd: Path, code: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg", "PYTHONWARNINGS": "default"}
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "chainrule",
                                                             *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _penguins(path: Path, n: int, seed: int, *, unseen: bool = False) -> list[list[str]]:
    """A small penguin-like table, written as a user's file: an ID, a category with gaps,
    numbers with NA, whole numbers, a free note with quotes and commas, the species."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        species = ["Adelie", "Gentoo", "Chinstrap"][i % 3]
        island = ISLANDS[(i + (i % 3)) % 3] if i % 11 else ""
        if unseen and i % 4 == 1:
            island = "Atlantis"
        bill = f"{[38.0, 47.5, 49.0][i % 3] + rng.normal(0, 1.5):.1f}" if i % 7 else "NA"
        mass = str(int([3700, 5000, 3730][i % 3] + rng.normal(0, 150))) if i % 9 else "197"
        sex = ["male", "female"][i % 2] if i % 13 else ""
        note = f'"seen {i}, twice"' if i % 5 == 0 else "ok"
        rows.append([str(1000 + i), island, bill, mass, sex, note, species])
    header = ["id", "island", "bill_mm", "mass_g", "sex", "note", "species"]
    path.write_text(",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("penguins")
    _penguins(d / "train.csv", 90, 0)
    with (d / "train.csv").open("a") as f:  # two rows without a target
        f.write("2000,Dream,40.0,3800,male,ok,\n2001,Biscoe,41.0,3900,female,ok,NA\n")
    res = run("train", "--data", "train.csv", "--target", "species", "--val-split", "0",
              "--epochs", "40", "--batch-size", "full", "--lr", "0.05", "--layers", "8",
              "--drop", "note", "--no-plots", "--out", "run", cwd=d)
    assert res.returncode == 0, res.stderr
    (d / "train_stdout.txt").write_text(res.stdout)
    (d / "train_stderr.txt").write_text(res.stderr)
    return d


def test_train_prints_the_column_table_and_the_dropped_target_rows(trained: Path) -> None:
    out = (trained / "train_stdout.txt").read_text()
    lines = {ln.split()[0]: ln for ln in out.splitlines()[out.splitlines().index("columns:")
                                                          + 1:][:6]}
    assert "identifier-like" in lines["id"] and "dropped" in lines["id"]
    assert "categorical" in lines["island"] and "one-hot, 3 categories + missing" in \
        lines["island"]
    assert "numeric" in lines["bill_mm"] and "missing indicator" in lines["bill_mm"]
    assert "numeric" in lines["mass_g"] and "--drop" in lines["note"]
    assert "2 row(s) with a missing target 'species' were left out" in out


def _encode_by_hand(train: object, new: object, names: list[str]) -> np.ndarray:
    """The features of ``new`` from the training rows, with pandas: median fill plus an
    indicator, one-hot with a missing column, then standardised with the training mean/std
    except the 0/1 columns, kept as they are."""
    def columns(frame: object) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for c in ("island", "sex"):
            values = frame[c].astype(object)
            for k in sorted(set(train[c].dropna())):
                out[f"{c}={k}"] = (values == k).to_numpy(dtype=float)
            out[f"{c} (missing)"] = frame[c].isna().to_numpy(dtype=float)
        for c in ("bill_mm", "mass_g"):
            v = frame[c].to_numpy(dtype=float)
            out[c] = np.where(np.isnan(v), np.nanmedian(train[c].to_numpy(dtype=float)), v)
            if train[c].isna().any():
                out[f"{c} (missing)"] = np.isnan(v).astype(float)
        return out

    fit, apply = columns(train), columns(new)
    assert sorted(fit) == sorted(names)
    X_train = np.column_stack([fit[n] for n in names])
    X = np.column_stack([apply[n] for n in names])
    std = X_train.std(axis=0)
    # the 0/1 columns (one-hot categories, missing-value indicators) are kept as they are
    binary = np.all((X_train == 0) | (X_train == 1), axis=0)
    mean = np.where(binary, 0.0, X_train.mean(axis=0))
    return (X - mean) / np.where(binary | (std == 0), 1.0, std)


def _forward_by_hand(model_file: Path, Z: np.ndarray) -> np.ndarray:
    params = dict(cr.load(str(model_file)).named_parameters())
    W1, b1 = params["0.weight"].data.astype(float), params["0.bias"].data.astype(float)
    W2, b2 = params["2.weight"].data.astype(float), params["2.bias"].data.astype(float)
    z = np.maximum(Z @ W1.T + b1, 0) @ W2.T + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_predict_on_new_rows_keeps_every_cell_and_matches_a_hand_computation(
        trained: Path) -> None:
    rows = _penguins(trained / "new.csv", 24, 5, unseen=True)
    res = run("predict", "run/model.safetensors", "--data", "new.csv", "--proba", cwd=trained)
    assert res.returncode == 0, res.stderr
    # One warning, naming the column and the unseen value.
    warnings = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "column 'island': 'Atlantis'" in warnings[0], res.stderr
    assert "Warning:" not in res.stderr
    got = list(csv.reader(io.StringIO(res.stdout)))
    header = ["id", "island", "bill_mm", "mass_g", "sex", "note", "species"]
    assert got[0] == [*header, "prediction", "p_Adelie", "p_Chinstrap", "p_Gentoo"]
    assert len(got) == 1 + len(rows)  # every row, missing values and unseen ones included
    written = list(csv.reader(io.StringIO((trained / "new.csv").read_text())))[1:]
    for out_row, in_row in zip(got[1:], written):
        assert out_row[:7] == in_row  # the same strings: NA stays NA, 197 stays 197
    raw_lines = (trained / "new.csv").read_text().splitlines()[1:]
    out_lines = res.stdout.splitlines()[1:]
    for line, out_line in zip(raw_lines, out_lines):
        if '"' not in line:
            assert out_line.startswith(line + ",")
    assert any(r[3] == "197" for r in got[1:]) and any(r[2] == "NA" for r in got[1:])
    probs = np.array([[float(v) for v in r[8:]] for r in got[1:]])
    labels = ["Adelie", "Chinstrap", "Gentoo"]
    assert [r[7] for r in got[1:]] == [labels[k] for k in probs.argmax(axis=1)]
    train = pd.read_csv(trained / "train.csv", na_values=["NA", ""], keep_default_na=False)
    train = train[train["species"].notna()]
    new = pd.read_csv(trained / "new.csv", na_values=["NA", ""], keep_default_na=False)
    names = cr_feature_names(trained / "run" / "model.safetensors")
    Z = _encode_by_hand(train, new, names)  # Atlantis: every island column 0
    np.testing.assert_allclose(probs, _forward_by_hand(trained / "run" / "model.safetensors",
                                                       Z), atol=2e-5)


def cr_feature_names(model_file: Path) -> list[str]:
    from chainrule.tools.saving import load_with_metadata

    return load_with_metadata(str(model_file))[1]["preprocessing"]["feature_names"]


def test_evaluate_json_is_one_object_that_agrees_with_sklearn(trained: Path) -> None:
    _penguins(trained / "test.csv", 30, 9)
    ev = run("evaluate", "run/model.safetensors", "--data", "test.csv", "--json", cwd=trained)
    assert ev.returncode == 0, ev.stderr
    assert len(ev.stdout.strip().splitlines()) == 1
    m = json.loads(ev.stdout)
    assert {"accuracy", "log_loss", "n"} <= set(m) and m["n"] == 30
    pr = run("predict", "run/model.safetensors", "--data", "test.csv", "--proba", cwd=trained)
    rows = list(csv.DictReader(io.StringIO(pr.stdout)))
    truth = [r["species"] for r in rows]
    probs = np.array([[float(r[f"p_{c}"]) for c in ("Adelie", "Chinstrap", "Gentoo")]
                      for r in rows])
    probs /= probs.sum(axis=1, keepdims=True)  # written with 6 significant digits
    assert 0 <= m["accuracy"] <= 1
    assert m["accuracy"] == pytest.approx(metrics.accuracy_score(
        truth, [r["prediction"] for r in rows]))
    assert m["log_loss"] == pytest.approx(metrics.log_loss(
        truth, probs, labels=["Adelie", "Chinstrap", "Gentoo"]), rel=1e-4)


def _regression_csv(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bill = rng.normal(45, 5, n)
    kind = rng.choice(ISLANDS, n)
    mass = 80 * bill + np.select([kind == "Biscoe", kind == "Dream"], [900, -300], 0) + \
        rng.normal(0, 100, n)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["bill_mm", "island", "mass_g"])
        w.writerows([[f"{b:.1f}", k, f"{m:.0f}"] for b, k, m in zip(bill, kind, mass)])


def test_regression_json_per_split_and_evaluate_in_the_targets_units(tmp_path: Path) -> None:
    _regression_csv(tmp_path / "r.csv", 300, 0)
    res = run("train", "--data", "r.csv", "--target", "mass_g", "--test-split", "0.2",
              "--epochs", "150", "--no-plots", "--json", "--out", "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 1
    per_split = json.loads(res.stdout)
    assert set(per_split) == {"train", "validation", "test"}
    for m in per_split.values():
        assert {"mse", "rmse", "mae", "r2", "n"} <= set(m)
    assert per_split["test"]["r2"] > 0.8  # in grams, not standardised units
    _regression_csv(tmp_path / "new.csv", 50, 1)
    ev = run("evaluate", "run/model.safetensors", "--data", "new.csv", "--json", cwd=tmp_path)
    m = json.loads(ev.stdout)
    assert {"mse", "rmse", "mae", "r2", "n"} <= set(m) and m["n"] == 50
    pr = run("predict", "run/model.safetensors", "--data", "new.csv", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(pr.stdout)))
    y = np.array([float(r["mass_g"]) for r in rows])
    p = np.array([float(r["prediction"]) for r in rows])
    assert m["mse"] == pytest.approx(metrics.mean_squared_error(y, p), rel=1e-5)
    assert m["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y, p)), rel=1e-5)
    assert m["mae"] == pytest.approx(metrics.mean_absolute_error(y, p), rel=1e-5)
    assert m["r2"] == pytest.approx(metrics.r2_score(y, p), rel=1e-5, abs=1e-6)


# -- failing loudly ------------------------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("flags, hint_flags", [
    (["--lr", "10", "--optimizer", "sgd", "--no-standardize"], ["--lr", "--standardize"]),
    (["--lr", "10000", "--optimizer", "sgd"], ["--lr"]),
])
def test_a_diverging_run_exits_3_and_leaves_the_model_file_alone(
        tmp_path: Path, flags: list[str], hint_flags: list[str]) -> None:
    _regression_csv(tmp_path / "r.csv", 200, 2)
    good = run("train", "--data", "r.csv", "--target", "mass_g", "--epochs", "3", "-q",
               "--no-plots", "--out", "run", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    model = tmp_path / "run" / "model.safetensors"
    before = _digest(model)
    res = run("train", "--data", "r.csv", "--target", "mass_g", "--epochs", "50", "-q",
              "--no-plots", "--out", "run", *flags, cwd=tmp_path)
    assert res.returncode == 3, (res.stdout, res.stderr)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("chainrule: error:")]
    assert len(errors) == 1 and "diverged" in errors[0] and "no model was saved" in errors[0]
    hint = [ln for ln in res.stderr.splitlines() if ln.startswith("hint:")]
    assert len(hint) == 1 and all(flag in hint[0] for flag in hint_flags), res.stderr
    assert "lr=" not in res.stderr and "Warning" not in res.stderr
    assert "Traceback" not in res.stderr and "saved:" not in res.stdout
    assert _digest(model) == before
    fresh = run("train", "--data", "r.csv", "--target", "mass_g", "--epochs", "50", "-q",
                "--no-plots", "--out", "fresh", *flags, cwd=tmp_path)
    assert fresh.returncode == 3 and not (tmp_path / "fresh" / "model.safetensors").exists()


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed: expected a whole number from 0 to"),
    (["--layers", "1000000000"], "a layer of 1,000,000,000 units is beyond"),
    (["--data", "r.csv", "--target", "mass_g", "--loss", "bce"],
     "--loss bce needs class labels but the target is numeric (regression); leave --loss out"),
])
def test_bad_options_are_one_clean_line(tmp_path: Path, args: list[str], message: str) -> None:
    _regression_csv(tmp_path / "r.csv", 40, 3)
    res = run("train", "--no-plots", *args, cwd=tmp_path)
    assert res.returncode in (1, 2)
    assert "Traceback" not in res.stderr and message in res.stderr, res.stderr
    assert res.stderr.count("error:") == 1


def test_cross_entropy_on_two_classes_trains(tmp_path: Path) -> None:
    _binary_csv(tmp_path / "b.csv", [("a", 30), ("b", 10)])
    res = run("train", "--data", "b.csv", "--target", "y", "--loss", "cross_entropy",
              "--epochs", "3", "-q", "--no-plots", "--out", "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run("train", "--data", "b.csv", "--target", "y", "--loss", "mse", "--epochs", "3",
              "-q", "--no-plots", "--out", "run", cwd=tmp_path)
    assert res.returncode == 1 and "--task regression" in res.stderr and "leave --loss out" \
        in res.stderr


def test_library_warnings_are_one_line_naming_cli_flags(tmp_path: Path) -> None:
    _binary_csv(tmp_path / "b.csv", [("a", 30), ("b", 10)])
    res = run("train", "--data", "b.csv", "--target", "y", "--batch-size", "1000",
              "--epochs", "2", "-q", "--no-plots", "--out", "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines and all(ln.startswith("chainrule: warning: ") for ln in lines), lines
    assert "--batch-size full" in res.stderr and "batch_size" not in res.stderr
    assert "UserWarning" not in res.stderr and ".py:" not in res.stderr


def test_without_pandas_train_says_what_to_install(tmp_path: Path) -> None:
    _binary_csv(tmp_path / "b.csv", [("a", 5), ("b", 5)])
    code = ("import sys; sys.modules['pandas'] = None\n"
            "from chainrule.cli import main\nsys.exit(main(sys.argv[1:]))")
    res = run("train", "--data", "b.csv", "--target", "y", cwd=tmp_path, code=code)
    assert res.returncode == 1
    assert "pandas, which is not installed" in res.stderr
    assert "pip install pandas" in res.stderr and "Traceback" not in res.stderr


# -- class weights -----------------------------------------------------------------------------
def _binary_csv(path: Path, counts: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    labels = np.array([lab for lab, k in counts for _ in range(k)])
    X = rng.normal(size=(len(labels), 2)) + (labels == counts[0][0])[:, None]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["u", "v", "y"])
        w.writerows([[f"{a:.4f}", f"{b:.4f}", lab] for (a, b), lab in zip(X, labels)])
    return np.round(X, 4), labels


def _first_loss(tmp_path: Path, out: str, *weights: str) -> tuple[float, np.ndarray]:
    """The loss logged for epoch 1 (full batch: the loss at the initial weights) and the
    probabilities of class 'b' at those weights, from the saved model (a step of lr 1e-12
    leaves them as they were)."""
    res = run("train", "--data", "b.csv", "--target", "y", "--val-split", "0",
              "--batch-size", "full", "--optimizer", "sgd", "--lr", "1e-12", "--epochs", "1",
              "--no-standardize", "--layers", "4", "--no-plots", "-q", "--out", out,
              *weights, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    loss = float(next(csv.DictReader((tmp_path / out / "history.csv").open()))["loss"])
    params = dict(cr.load(str(tmp_path / out / "model.safetensors")).named_parameters())
    X = pd.read_csv(tmp_path / "b.csv")[["u", "v"]].to_numpy(dtype=float)
    h = np.maximum(X @ params["0.weight"].data.T.astype(float) + params["0.bias"].data, 0)
    z = (h @ params["2.weight"].data.T.astype(float) + params["2.bias"].data)[:, 0]
    return loss, 1 / (1 + np.exp(-z))


def test_class_weights_weigh_the_loss_as_sklearn_says(tmp_path: Path) -> None:
    from sklearn.utils.class_weight import compute_class_weight

    _, labels = _binary_csv(tmp_path / "b.csv", [("a", 30), ("b", 10)])
    y = (labels == "b").astype(float)
    plain, p = _first_loss(tmp_path, "plain")
    assert plain == pytest.approx(metrics.log_loss(y, p), rel=1e-5)
    balanced, p = _first_loss(tmp_path, "balanced", "--class-weight", "balanced")
    w_class = compute_class_weight("balanced", classes=np.array(["a", "b"]), y=labels)
    assert w_class.tolist() == pytest.approx([40 / 60, 40 / 20])
    w = np.where(labels == "a", w_class[0], w_class[1])
    # The weighted mean sum(w_i l_i) / sum(w_i), which sklearn's log_loss computes too.
    assert balanced == pytest.approx(metrics.log_loss(y, p, sample_weight=w), rel=1e-5)
    assert balanced != pytest.approx(plain, rel=1e-3)
    given, p = _first_loss(tmp_path, "given", "--class-weight", "a=1,b=5")
    w = np.where(labels == "a", 1.0, 5.0)
    assert given == pytest.approx(metrics.log_loss(y, p, sample_weight=w), rel=1e-5)


def test_unknown_error_refuses_unseen_categories_naming_them(trained: Path) -> None:
    _penguins(trained / "odd.csv", 8, 6, unseen=True)
    res = run("predict", "run/model.safetensors", "--data", "odd.csv", "--unknown", "error",
              cwd=trained)
    assert res.returncode == 1 and res.stdout == ""
    assert "column 'island' holds the value 'Atlantis' not seen in training (first at row 3)" \
        in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
