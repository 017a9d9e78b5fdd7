"""Cells read as written, never through a lossy type: whole-number class labels beyond 2**53
stay distinct (as scikit-learn's LabelEncoder keeps them), labels sort the same in every
process, and text that Python's float reads as a number but pandas does not (``0x10``) stays
text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas")

from ranks import ThreadRanks  # noqa: E402

from chainrule.data.columns import prepare_target  # noqa: E402
from chainrule.data.csvio import load_csv  # noqa: E402
from chainrule.data.preprocessing import LabelEncoder  # noqa: E402
from chainrule.data.shares import read_share  # noqa: E402
from chainrule.errors import DataError  # noqa: E402
from chainrule.workflow import TrainConfig, read_table  # noqa: E402

BIG = 2**53
LABELS = [str(BIG), str(BIG + 1), str(BIG + 2)]  # float64 makes 2**53 + 1 into 2**53


def _labels_file(tmp_path: Path, gap: int | None = None, n: int = 60) -> tuple[Path, list]:
    """a, y with y one of LABELS; ``gap``: the row whose label is missing."""
    labels = [LABELS[i % 3] for i in range(n)]
    rows = [f"{i % 7},{'NA' if i == gap else labels[i]}" for i in range(n)]
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "\n".join(rows) + "\n")
    return path, [lab for i, lab in enumerate(labels) if i != gap]


def test_whole_number_labels_beyond_2_53_are_three_classes(tmp_path: Path) -> None:
    path, labels = _labels_file(tmp_path)
    data = load_csv(str(path), "y")
    assert data.task == "classification" and data.class_names == LABELS
    assert [data.class_names[k] for k in data.y] == labels


@pytest.mark.parametrize("gap", [0, 59])
def test_a_missing_label_does_not_make_them_floats(tmp_path: Path, gap: int) -> None:
    """A missing cell makes pandas read the column as float64: the labels are read again as
    written."""
    path, labels = _labels_file(tmp_path, gap)
    prep = read_table(TrainConfig(data=str(path), target="y", test_split=0, val_split=0))
    assert prep.class_names == LABELS
    assert [prep.class_names[k] for k in prep.y] == labels


@pytest.mark.parametrize("gap", [0, 30, 59])
def test_every_rank_keeps_the_labels_exact(tmp_path: Path, gap: int) -> None:
    """Three simulated ranks: the one with the missing label makes its share float64 and
    the others follow, as one read of the whole file does."""
    path, labels = _labels_file(tmp_path, gap)

    def target(comm: object, rank: int) -> tuple[list[str], list[int]]:
        share = read_share(str(path), comm)
        t = prepare_target(share, "y", comm=comm)
        return t.class_names, t.y.tolist()

    got = ThreadRanks(3).run(target)
    assert all(names == LABELS for names, _ in got)
    assert [LABELS[k] for _, y in got for k in y] == labels


def test_integer_codes_beyond_2_53_stay_distinct_categories(tmp_path: Path) -> None:
    rows = [f"{'' if i == 4 else BIG + i % 3},{i % 2}" for i in range(40)]
    path = tmp_path / "t.csv"
    path.write_text("code,y\n" + "\n".join(rows) + "\n")
    prep = read_table(TrainConfig(data=str(path), target="y", categorical=["code"],
                                  test_split=0, val_split=0))
    assert [n for n in prep.feature_names if n.startswith("code=")] == \
        [f"code={label}" for label in LABELS]


def test_labels_sort_the_same_in_every_process() -> None:
    """A set's order differs between processes (string hashing is seeded per process);
    labels equal as numbers ('1' and '1.0', or 2**53 and 2**53 + 1 as float64) must not
    take it over."""
    code = ("from chainrule.data.preprocessing import LabelEncoder; "
            f"print(LabelEncoder().fit(['1.0', '1', '01', '2', {LABELS[1]!r}, "
            f"{LABELS[0]!r}]).classes_)")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}, check=True
                           ).stdout for seed in range(12)}
    assert len(seen) == 1
    assert LabelEncoder().fit(["10", "2", LABELS[1], LABELS[0]]).classes_ == \
        ["2", "10", LABELS[0], LABELS[1]]


def test_hex_text_in_a_number_column_is_not_read_as_16(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,0x10,0\n2,3,1\n3,4,0\n")
    with pytest.raises(DataError, match="non-numeric value '0x10' at row 2, column 'b'"):
        load_csv(str(path), "y")
    rows = [f"{i % 4},{'0x10' if i % 2 else i % 3},{i % 2}" for i in range(30)]
    path.write_text("a,b,y\n" + "\n".join(rows) + "\n")
    prep = read_table(TrainConfig(data=str(path), target="y", test_split=0, val_split=0))
    kinds = {d["column"]: d["kind"] for d in prep.encoder.describe()}
    assert kinds["b"] == "categorical" and "b=0x10" in prep.feature_names


@pytest.mark.parametrize("text", ["0x10", "1_000", "\u0661\u0662", "0b11"])
def test_a_target_pandas_reads_as_text_is_not_a_number(tmp_path: Path, text: str) -> None:
    rows = [f"{i},{text if i % 2 else i % 3}" for i in range(30)]
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="regression needs a numeric target"):
        load_csv(str(path), "y", task="regression")
    assert text in load_csv(str(path), "y").class_names


def test_a_number_beyond_the_float_range_is_infinite_however_long(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,t\n" + b"1" * 200_000 + b",x\n2,y\n")
    with pytest.raises(DataError, match="infinite value at row 2, column 'a'"):
        load_csv(str(path), "t")


def test_a_row_counter_beyond_2_53_is_still_seen_counting_up() -> None:
    from chainrule.data.kinds import infer_columns

    frame = pd.DataFrame({"n": [2**60 + i % 30 for i in range(60)],
                          "x": [float(i % 7) for i in range(60)]})
    plans = {p.name: p for p in infer_columns(frame)}
    assert plans["n"].kind == "dropped" and "counts up by one" in plans["n"].reason
