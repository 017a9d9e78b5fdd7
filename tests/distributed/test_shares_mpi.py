"""Under MPI each rank reads only its share of a CSV file's records (real mpiexec runs): the
ranks end with the preprocessing, the split and the encoded rows one process gets from the
whole file, and ``chainrule train --distributed`` trains the model one process trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")

from chainrule.tools.saving import load_with_metadata
from chainrule.workflow import TrainConfig, read_table

sys.path.insert(0, str(Path(__file__).parent))
from mpi_run import chainrule, needs_mpi, run_bounded, script

SRC = str(Path(__file__).parents[2] / "src")


def _awkward_table(path: Path, n: int = 120, spoil: dict[tuple[int, str], str] | None = None
                  ) -> list[str]:
    """Every kind of column, with what makes shares differ: quoted line breaks, whole numbers
    in the first rows and decimals later, a code that is a number except once near the end,
    a category seen only in the first rows, missing cells and missing targets.  ``spoil``
    replaces cells: {(row index, column): text}.  Returns the records (header first)."""
    rng = np.random.default_rng(5)
    names = ["id", "note", "size", "code", "flag", "colour", "when", "y"]
    records = [",".join(names)]
    for i in range(n):
        flag = "" if i == 40 else ("true" if rng.random() < 0.5 else "false")
        score = (i % 9) + (2 if flag == "true" else 0) + rng.normal(0, 1)
        cells = {
            "id": str(i + 1),
            "note": f'"line one\nline two, {i % 3}"' if i % 2 else f"plain {i % 2}",
            "size": "NA" if i == 70 else (str(i % 9) if i < n // 2
                                          else f"{rng.normal(4, 2):.3f}"),
            "code": "x9" if i == n - 7 else str(1 + i % 3),
            "flag": flag,
            "colour": "violet" if i < 4 else ("" if i % 11 == 0 else ["red", "blue"][i % 2]),
            "when": f"2021-{1 + i % 12:02d}-{1 + i % 27:02d}",
            "y": "" if i in (5, 66, 101) else ("lo" if score < 4 else "mid" if score < 7
                                               else "hi"),
        }
        for (row, column), text in (spoil or {}).items():
            if row == i:
                cells[column] = text
        records.append(",".join(cells[c] for c in names))
    path.write_text("\n".join(records) + "\n")
    return records


def _whole(path: Path) -> object:
    return read_table(TrainConfig(data=str(path), target="y", test_split=0.2))


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_each_rank_parses_its_share_and_ends_as_one_process(tmp_path: Path,
                                                           ranks: int) -> None:
    data = tmp_path / "t.csv"
    lines = _awkward_table(data)
    proc = run_bounded(ranks, script("mpi_share_script.py"), str(data), str(tmp_path),
                       PYTHONPATH=SRC)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(ranks)]
    whole = _whole(data)
    size, header = data.stat().st_size, len(lines[0]) + 1
    assert whole.encoder.describe()[1]["kind"] == "categorical"  # the note with line breaks
    offset = 0
    for g in got:
        # the same preprocessing, classes and split on every rank ...
        assert g["encoder"] == whole.encoder.to_dict()
        assert g["features"] == whole.feature_names and g["classes"] == whole.class_names
        assert g["task"] == whole.task and g["n_rows"] == whole.n_rows
        assert g["split_rows"] == [s.tolist() for s in whole.split]
        assert g["notes"] == whole.notes
        # ... and each rank holds its rows only, encoded as one process encodes them
        assert g["offset"] == offset and 0 < len(g["y"]) < whole.n_rows
        rows = slice(offset, offset + len(g["y"]))
        np.testing.assert_array_equal(np.array(g["X"]), whole.X[rows])
        np.testing.assert_array_equal(np.array(g["y"]), whole.y[rows])
        for mine, every in zip(g["split"], whole.split):
            assert mine == [r - offset for r in every if rows.start <= r < rows.stop]
        offset += len(g["y"])
        # the parser never saw the whole file, only bytes: this rank's records
        assert not any("path" in p for p in g["parsed"]), g["parsed"]
        assert max(p["bytes"] for p in g["parsed"]) < size / ranks + header + 300
    assert offset == whole.n_rows


def _train(tmp_path: Path, out: str, ranks: int | None) -> subprocess.CompletedProcess:
    return chainrule(ranks, "train", "--data", str(tmp_path / "t.csv"), "--target", "y",
                     "--val-split", "0", "--test-split", "0.2", "--batch-size", "full",
                     "--epochs", "30", "--layers", "8", "--lr", "0.05", "--no-plots", "-q",
                     "--out", str(tmp_path / out), PYTHONPATH=SRC)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_distributed_training_on_shares_equals_one_process(tmp_path: Path,
                                                          ranks: int) -> None:
    _awkward_table(tmp_path / "t.csv")
    one = _train(tmp_path, "one", None)
    assert one.returncode == 0, one.stderr
    many = _train(tmp_path, "many", ranks)
    assert many.returncode == 0, many.stderr
    assert many.stdout.count("saved:") == 1  # rank 0 alone reports and writes
    m1, meta1 = load_with_metadata(str(tmp_path / "one" / "model.safetensors"))
    m2, meta2 = load_with_metadata(str(tmp_path / "many" / "model.safetensors"))
    p1, p2 = meta1["preprocessing"], meta2["preprocessing"]
    assert p1["columns"] == p2["columns"] and p1["class_names"] == p2["class_names"]
    assert p1["feature_names"] == p2["feature_names"]
    np.testing.assert_allclose(p2["scaler"]["mean"], p1["scaler"]["mean"], rtol=1e-12)
    np.testing.assert_allclose(p2["scaler"]["scale"], p1["scaler"]["scale"], rtol=1e-12)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=1e-5)
    t1, t2 = meta1["training"], meta2["training"]
    assert t2["processes"] == ranks and t2["rows"] == t1["rows"] and t2["split"] == t1["split"]
    for part in ("train", "test"):
        assert t2["results"][part]["accuracy"] == t1["results"][part]["accuracy"]
        assert t2["results"][part]["n"] == t1["results"][part]["n"]
        assert t2["results"][part]["log_loss"] == pytest.approx(
            t1["results"][part]["log_loss"], rel=1e-5)


@needs_mpi
@pytest.mark.parametrize(("spoil", "message"), [
    ({(113, "size"): "inf"}, "an infinite value at row 115, feature 'size'"),
    ({(110, "colour"): "red,surplus"}, "row 112 has 9 values but the header has 8 columns"),
    # the next quote closes it: the record runs on into the next one
    ({(112, "note"): '"never closed'}, "row 114 has 2 values but the header has 8 columns"),
    ({(119, "note"): '"never closed'}, "a quoted value opened in row 121 is never closed"),
    ({(116, "colour"): "re\x00d"}, "a NUL byte (0x00) at row 118, column 'colour'"),
])
def test_a_bad_cell_in_the_last_share_names_the_files_row(tmp_path: Path, spoil: dict,
                                                          message: str) -> None:
    records = _awkward_table(tmp_path / "t.csv", spoil=spoil)
    (row, _), = spoil
    assert records[row + 1].split(",")[0] == str(row + 1)  # record row + 2 of the file
    proc = run_bounded(3, "-m", "chainrule", "train", "--data", str(tmp_path / "t.csv"),
                       "--target", "y", "--distributed", "--no-plots", "--epochs", "2",
                       "--out", str(tmp_path / "out"), PYTHONPATH=SRC)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.count("chainrule: error:") == 1 and "Traceback" not in proc.stderr
    assert "hint: check the data file" in proc.stderr  # the hint of the rank's DataError
    assert not (tmp_path / "out" / "model.safetensors").exists()
