"""A target that cannot be learned as asked is refused or warned, with the reason: a column
with a distinct value in most rows as classes, ``--task classification`` on a continuous
number.  Checked on the rules themselves and on real files shipped by PyPI packages
(matplotlib's msft.csv stock prices, scikit-learn's diabetes table)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli.app import main
from chainrule.errors import DataError, OptionError, OptionWarning
from chainrule.job import rules


def test_a_text_target_distinct_in_most_rows_is_refused_naming_the_count() -> None:
    names = [f"id{i}" for i in range(1047)]
    with pytest.raises(DataError, match=r"1,047 distinct values in 1,300 rows \(81%\).*ID"):
        rules.check_target("classification", names, "tail", 1300, "auto")


def test_a_number_target_distinct_in_most_rows_as_classes_points_to_regression() -> None:
    with pytest.raises(OptionError, match="60 distinct numbers in 65 rows") as err:
        rules.check_target("classification", [str(v) for v in range(60)], "Close", 65,
                           "classification")
    assert err.value.render(lambda o: "--task regression").endswith("--task regression")


def test_classification_asked_on_many_numbers_is_warned() -> None:
    notes = rules.check_target("classification", [f"{v / 10:g}" for v in range(111)], "price",
                               400, "classification")
    assert len(notes) == 1 and isinstance(notes[0], OptionWarning)
    assert "111 distinct numbers, not whole numbers" in str(notes[0])
    assert "task='regression'" in str(notes[0])  # the argument, spelled as a flag by the CLI


@pytest.mark.parametrize(("names", "n_rows", "asked"), [
    (["a", "b", "c"], 4, "auto"),          # tiny tables say nothing
    ([str(v) for v in range(12)], 400, "classification"),  # few numbers: classes are fine
    ([f"c{v}" for v in range(150)], 400, "auto"),           # many, but well under half
])
def test_learnable_targets_pass_quietly(names: list[str], n_rows: int, asked: str) -> None:
    assert rules.check_target("classification", names, "y", n_rows, asked) == []


def test_regression_is_not_judged() -> None:
    assert rules.check_target("regression", None, "y", 1000, "regression") == []


# -- on real files -----------------------------------------------------------------------------
def _msft() -> Path:
    mpl = pytest.importorskip("matplotlib")
    path = Path(mpl.get_data_path()) / "sample_data" / "msft.csv"
    if not path.is_file():
        pytest.skip("matplotlib's sample data is not installed")
    return path


def test_msft_dates_as_a_target_are_refused(tmp_path: Path, capsys) -> None:
    pytest.importorskip("pandas")
    code = main(["train", "--data", str(_msft()), "--target", "Date", "--no-plots",
                 "--epochs", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and "the target 'Date' has 65 distinct values in 65 rows (100%)" in err
    assert "ID or free-text column" in err and not (tmp_path / "r").exists()


def test_msft_prices_as_classes_are_refused_pointing_to_regression(tmp_path: Path,
                                                                   capsys) -> None:
    pytest.importorskip("pandas")
    code = main(["train", "--data", str(_msft()), "--target", "Close", "--task",
                 "classification", "--no-plots", "--epochs", "1", "--out",
                 str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 1 and "60 distinct numbers in 65 rows" in err and "--task regression" in err


def test_diabetes_progression_as_classes_is_warned(tmp_path: Path, capsys) -> None:
    pd = pytest.importorskip("pandas")
    sk = pytest.importorskip("sklearn")
    data = Path(os.path.dirname(sk.__file__)) / "datasets" / "data"
    X = np.loadtxt(data / "diabetes_data_raw.csv.gz")
    y = np.loadtxt(data / "diabetes_target.csv.gz")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    frame["progression"] = y
    frame.to_csv(tmp_path / "diabetes.csv", index=False)
    code = main(["train", "--data", str(tmp_path / "diabetes.csv"), "--target", "progression",
                 "--task", "classification", "--no-plots", "--epochs", "1", "-q", "--out",
                 str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 0
    assert "the target 'progression' holds 214 distinct numbers, whole numbers" in err
    assert "--task regression predicts the number itself" in err
