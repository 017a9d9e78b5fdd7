"""The split of CSV reading: chainrule.data.diagnosis finds where a file is malformed with
the csv module alone, chainrule.data.tabular reads frames with pandas and keeps the names
callers import from it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chainrule.data import diagnosis, tabular
from chainrule.errors import DataError


def test_tabular_keeps_the_names_that_moved_to_diagnosis() -> None:
    for name in ("quote", "record_number"):
        assert getattr(tabular, name) is getattr(diagnosis, name)
        assert name in tabular.__all__ and name in diagnosis.__all__


def test_diagnosis_needs_no_pandas_and_no_reading() -> None:
    tree = ast.parse(Path(diagnosis.__file__).read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert not any("pandas" in m or m.endswith("tabular") for m in imported), imported


def test_prescan_and_diagnose_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a;b\n1;2\n3;4;5\n", encoding="utf-8")
    delimiter, header, start = diagnosis.prescan(str(path), None)
    assert (delimiter, header, start) == (";", ["a", "b"], 4)
    err = diagnosis.diagnose(str(path), delimiter, header)
    assert isinstance(err, DataError) and "row 3 has 3 values" in str(err)
    assert [n for n, _ in diagnosis.exact_records(str(path), ";")] == [1, 2, 3]
    with pytest.raises(DataError, match="delimiter must be one character"):
        diagnosis.check_delimiter(";;")
