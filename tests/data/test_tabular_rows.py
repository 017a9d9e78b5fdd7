"""Row numbers in errors name the file's own row (header = row 1, blank lines count), also
after rows without a target were left out."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pandas")

from chainrule.data import tabular
from chainrule.errors import DataError
from chainrule.workflow import TrainConfig, read_table


def _file(path: Path, blank: bool, wide: bool) -> int:
    """A table with missing targets before an infinite cell; returns the cell's row."""
    extra = [f"e{k}" for k in range(tabular._WIDE + 1)] if wide else []
    lines = [",".join(["x", "c", "y", *extra])]
    for i in range(30):
        x = "inf" if i == 25 else str(i % 7)
        y = "" if i in (3, 11, 20) else str(i % 2)
        lines.append(",".join([x, "ab"[i % 2], y, *(["1"] * len(extra))]))
        if blank and i in (5, 17):
            lines.append("")
    path.write_text("\n".join(lines) + "\n")
    return next(n for n, line in enumerate(lines, start=1) if line.startswith("inf,"))


@pytest.mark.parametrize("blank", [False, True])
@pytest.mark.parametrize("wide", [False, True])
def test_an_error_after_dropped_rows_names_the_files_row(tmp_path: Path, blank: bool,
                                                         wide: bool) -> None:
    row = _file(tmp_path / "t.csv", blank, wide)
    with pytest.raises(DataError, match=rf"infinite value at row {row}, feature 'x'"):
        read_table(TrainConfig(data=str(tmp_path / "t.csv"), target="y"))


def test_record_number_follows_the_index_of_a_filtered_frame(tmp_path: Path) -> None:
    row = _file(tmp_path / "t.csv", True, False)
    frame = tabular.read_frame(str(tmp_path / "t.csv"))
    kept = frame[frame["y"].notna()]
    position = int((kept["x"] == float("inf")).to_numpy().nonzero()[0][0])
    assert tabular.record_number(kept, position) == row
    assert tabular.record_number(frame, 0) == 2
