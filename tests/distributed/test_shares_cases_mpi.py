"""Files as users write them, under real mpiexec, each rank reading only its share of the
records: line endings, byte-order marks, blank lines, quoting, delimiters, wide files, column
types that differ between the ranks' shares, the options that choose columns, and bad files
whose fault lies in a late rank's share.  Every case is compared with what one process makes of
the same file (or, for bad files, with the row counted here, as in a spreadsheet: header = row
1, blank lines count)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pandas")

from chainrule.tools.saving import load_with_metadata
from chainrule.workflow import TrainConfig, read_table

sys.path.insert(0, str(Path(__file__).parent))
from mpi_run import chainrule, needs_mpi, run_bounded, script

SRC = str(Path(__file__).parents[2] / "src")
N = 90  # data rows of the column cases: the last of 3 ranks holds about rows 60-89


# -- files -------------------------------------------------------------------------------------
def _records(n: int = 60, seed: int = 1, quoted: bool = False) -> list[str]:
    """A header and ``n`` records: two numbers, a category (a quoted two-line note when
    ``quoted``, every third row) and a yes/no target."""
    rng = np.random.default_rng(seed)
    out = ["a,b,c,y"]
    for i in range(n):
        a, b = rng.normal(), rng.normal()
        c = '"two\nlines"' if quoted and i % 3 == 0 else ["red", "blue", "green"][i % 3]
        out.append(f"{a:.4f},{b:.4f},{c},{'yes' if a + b > 0 else 'no'}")
    return out


def _lines(records: list[str], blanks: tuple[int, ...] = (), eol: str = "\n",
           end: str | None = None) -> tuple[str, list[int]]:
    """The text of ``records`` with a blank line before each position in ``blanks`` (a
    position past the end puts it at the end), and each record's spreadsheet row."""
    lines, rows = [], []
    for k, r in enumerate(records):
        lines += [""] * blanks.count(k)
        lines.append(r)
        rows.append(len(lines))
    lines += [""] * sum(b >= len(records) for b in blanks)
    return eol.join(lines) + (eol if end is None else end), rows


def _column(cells: Callable[[int], str], n: int = N, seed: int = 2) -> str:
    """A table of ``n`` rows with the column m = cells(i) beside two numbers and a target."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    rows = ["a,b,m,y"] + [f"{a[i]:.4f},{b[i]:.4f},{cells(i)},{'yes' if a[i] + b[i] > 0 else 'no'}"
                          for i in range(n)]
    return "\n".join(rows) + "\n"


def _rich(n: int = 120) -> str:
    """An ID, numbers, a code, a category seen only in the last rows, true/false with gaps, a
    numeric target with a gap (r) and a class target with a rare class (y)."""
    rng = np.random.default_rng(7)
    rows = ["id,a,b,code,colour,flag,r,y"]
    for i in range(n):
        a, b = rng.normal(), rng.normal()
        colour = "violet" if i >= 110 else ["red", "blue", ""][i % 3]
        flag = "" if i % 17 == 0 else ["true", "false"][i % 2]
        r = "" if i == 90 else f"{3 * a - b + rng.normal(0, .1):.3f}"
        y = "rare" if i % 10 == 0 else ("hi" if a > 0 else "lo")
        rows.append(f"{i + 1},{a:.4f},{b:.4f},{1 + i % 4},{colour},{flag},{r},{y}")
    return "\n".join(rows) + "\n"


def _wide(k: int = 2100, n: int = 40) -> str:
    """More than 2000 columns (read by pandas' C engine): whole numbers then decimals in one
    column, a gap, true/false with a gap, a category and a code with a word in the last rows."""
    rng = np.random.default_rng(4)
    rows = [",".join([f"f{j}" for j in range(k)] + ["flag", "colour", "code", "y"])]
    for i in range(n):
        x = rng.normal(size=k)
        cells = [f"{v:.3f}" for v in x]
        cells[1] = str(i % 4) if i < 30 else f"{i / 3:.2f}"
        cells[2] = "" if i == 35 else cells[2]
        rows.append(",".join(cells + ["" if i == 33 else ["true", "false"][i % 2],
                                      "violet" if i >= 37 else ["red", "blue"][i % 2],
                                      "x9" if i == 38 else str(i % 3),
                                      "yes" if x[:5].sum() > 0 else "no"]))
    return "\n".join(rows) + "\n"


def _with_inch_marks() -> str:
    """A stray double quote inside unquoted cells (12" for inches), twice, with quoted line
    breaks between them: a CSV parser reads the marks as text (a quote opens a value only at
    its start)."""
    rng = np.random.default_rng(3)
    rows = ["a,size,note,y"]
    for i in range(60):
        a = rng.normal()
        size = f'{12 + i % 3}"' if i in (5, 55) else "m"
        note = '"two\nlines"' if i % 2 else "one"
        rows.append(f"{a:.4f},{size},{note},{'yes' if a > 0 else 'no'}")
    return "\n".join(rows) + "\n"


L = _records()
QUOTED = ["a,note,y"] + [
    f"{x:.4f},{note},{'yes' if x > 0 else 'no'}"
    for i, x in enumerate(np.random.default_rng(3).normal(size=90))
    for note in ['"he said ""hi""\nthen, ""bye""\n' + "x" * (i % 7) + '"' if i % 4 == 1
                 else '""""' if i % 4 == 3 else "pq"[i % 2]]]
LONG_QUOTED = ["a,note,y"] + [
    f"{x:.4f},{note},{'yes' if x > 0 else 'no'}"
    for i, x in enumerate(np.random.default_rng(3).normal(size=30))
    for note in ['"' + 'ab""c\n' * 40 + '"' if i % 5 == 2 else "k"]]
SPLIT = {"test_split": 0.2}

# name: (file text, target, TrainConfig options)
CASES: dict[str, tuple[str, str, dict]] = {
    "crlf": ("\r\n".join(L) + "\r\n", "y", SPLIT),
    "bom": ("\ufeff" + "\n".join(L) + "\n", "y", SPLIT),
    "no_final_newline": ("\n".join(L), "y", SPLIT),
    "crlf_no_final_newline": ("\r\n".join(L), "y", SPLIT),
    "blank_lines": (_lines(L, (1, 1, 21, 21, 41, 99, 99, 99))[0], "y", SPLIT),
    "blank_lines_crlf_bom": ("\ufeff" + _lines(L, (1, 21, 41, 99), "\r\n")[0], "y", SPLIT),
    "four_rows": ("\n".join(L[:5]) + "\n", "y", {}),
    "semicolon_sniffed": ("\n".join(r.replace(",", ";") for r in L) + "\n", "y", SPLIT),
    "tab_sniffed": ("\n".join(r.replace(",", "\t") for r in L) + "\n", "y", SPLIT),
    "semicolon_given": ("\n".join(r.replace(",", ";") for r in L) + "\n", "y",
                        {**SPLIT, "delimiter": ";"}),
    "pipe_sniffed": ("\n".join(r.replace(",", "|") for r in L) + "\n", "y", SPLIT),
    "quotes_doubled_and_line_breaks": ("\n".join(QUOTED) + "\n", "y", SPLIT),
    "long_quoted_cells": ("\n".join(LONG_QUOTED) + "\n", "y", SPLIT),
    "wide": (_wide(), "y", SPLIT),
    "missing_on_rank0_int": (_column(lambda i: "" if i < 20 else str(i % 5)), "y", SPLIT),
    "missing_on_last_rank_int": (_column(lambda i: "" if i >= 62 else str(i % 5)), "y", SPLIT),
    "missing_on_rank0_text": (_column(lambda i: "" if i < 35 else "uv"[i % 2]), "y", SPLIT),
    "missing_on_rank0_bool": (_column(lambda i: "" if i < 35 else ["true", "false"][i % 2]),
                              "y", SPLIT),
    "missing_on_rank0_date": (_column(lambda i: "" if i < 35 else f"2022-03-{1 + i % 28:02d}"),
                              "y", SPLIT),
    "category_on_last_rank": (_column(lambda i: "violet" if i >= 85 else ["red", "blue"][i % 2]),
                              "y", SPLIT),
    "word_in_numbers_on_last_rank": (_column(lambda i: "unknown" if i == 80 else str(i % 7)),
                                     "y", SPLIT),
    "dates": (_column(lambda i: f"2021-{1 + i % 12:02d}-{1 + i % 27:02d}"), "y", SPLIT),
    "dates_then_times": (_column(lambda i: f"2021-{1 + i % 12:02d}-{1 + i % 27:02d}"
                                 + (" 10:30:00" if i >= 75 else "")), "y", SPLIT),
    "true_false_with_gaps": (_column(lambda i: "" if i in (3, 50, 88)
                                     else ["true", "false"][i % 2]), "y", SPLIT),
    "whole_numbers_then_decimals": (_column(lambda i: f"{i}.5" if i >= 75 else str(i % 9)),
                                    "y", SPLIT),
    "missing_markers_on_last_rank": (_column(lambda i: ["NA", "?", "null", "None"][i % 4]
                                             if i >= 75 else str(i % 9)), "y", SPLIT),
    "rich_features_categorical": (_rich(), "y", {"features": ["a", "code", "colour"],
                                                 "categorical": ["code"]}),
    "rich_drop_id_kept": (_rich(), "y", {"drop": ["r", "flag"], "features": None}),
    "rich_regression": (_rich(), "r", {"drop": ["y"], "val_split": 0.0, "test_split": 0.3}),
    "rich_test_split_0.3": (_rich(), "y", {"drop": ["r"], "test_split": 0.3}),
    # faults found by these cases and fixed: kept as regressions
    "zero_one_then_true_false": (_column(lambda i: ["true", "false"][i % 2] if i >= 75
                                         else "10"[i % 2]), "y", SPLIT),
    "inch_marks": (_with_inch_marks(), "y", SPLIT),
}


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


@pytest.fixture(scope="module", params=[2, 3])
def shares(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[int, Path, list[dict]]:
    """Every case prepared by one mpiexec job on 2 and on 3 ranks: (ranks, folder, each
    rank's results by case)."""
    ranks = request.param
    folder = tmp_path_factory.mktemp(f"cases{ranks}")
    jobs = []
    for name, (text, target, options) in CASES.items():
        _write(folder / f"{name}.csv", text)
        jobs.append({"name": name, "data": str(folder / f"{name}.csv"), "target": target,
                     "options": options})
    (folder / "jobs.json").write_text(json.dumps(jobs))
    proc = run_bounded(ranks, script("mpi_shares_cases_script.py"), str(folder / "jobs.json"),
                       str(folder), PYTHONPATH=SRC)
    assert proc.returncode == 0, proc.stderr
    return ranks, folder, [json.loads((folder / f"rank{r}.json").read_text())
                           for r in range(ranks)]


@needs_mpi
@pytest.mark.parametrize("case", list(CASES))
def test_every_rank_ends_with_what_one_process_reads(shares: tuple, case: str) -> None:
    _, folder, got = shares
    _, target, options = CASES[case]
    whole = read_table(TrainConfig(data=str(folder / f"{case}.csv"), target=target,
                                   **options))
    X, y = [], []
    for r, mine in enumerate(g[case] for g in got):
        assert "error" not in mine, f"rank {r}: {mine['error']}"
        assert mine["encoder"] == whole.encoder.to_dict()
        assert mine["features"] == whole.feature_names and mine["classes"] == whole.class_names
        assert mine["task"] == whole.task and mine["n_rows"] == whole.n_rows
        assert mine["split_rows"] == [s.tolist() for s in whole.split_rows]
        assert mine["notes"] == whole.notes
        assert mine["offset"] == len(y)
        X += mine["X"]
        y += mine["y"]
    np.testing.assert_array_equal(np.array(X).reshape(whole.X.shape), whole.X)
    np.testing.assert_array_equal(np.array(y), whole.y)


# -- training end to end -----------------------------------------------------------------------
def _train(data: Path, out: Path, ranks: int | None, *options: str
           ) -> subprocess.CompletedProcess:
    return chainrule(ranks, "train", "--data", str(data), "--no-plots", "-q", "--out",
                     str(out), *options, PYTHONPATH=SRC)


@needs_mpi
@pytest.mark.parametrize("options", [
    ("--target", "r", "--drop", "y", "--test-split", "0.2", "--patience", "3", "--lr", "0.1",
     "--epochs", "300"),  # regression, stopped early on the validation loss
    ("--target", "y", "--drop", "r", "--class-weight", "balanced", "--val-split", "0",
     "--test-split", "0.3", "--epochs", "20"),
])
def test_training_on_shares_equals_one_process(tmp_path: Path, options: tuple) -> None:
    data = tmp_path / "t.csv"
    _write(data, "\ufeff" + _rich().replace("\n", "\r\n"))
    common = ("--batch-size", "full", "--layers", "16", *options)
    one = _train(data, tmp_path / "one", None, *common)
    many = _train(data, tmp_path / "many", 3, *common)
    assert one.returncode == 0 and many.returncode == 0, (one.stderr, many.stderr)
    assert many.stderr == one.stderr  # the same warnings, once
    m1, meta1 = load_with_metadata(str(tmp_path / "one" / "model.safetensors"))
    m2, meta2 = load_with_metadata(str(tmp_path / "many" / "model.safetensors"))
    p1, p2 = meta1["preprocessing"], meta2["preprocessing"]
    rounded = ("scaler", "target_scaler")  # sums over ranks: equal to rounding
    assert {k: v for k, v in p1.items() if k not in rounded} == \
        {k: v for k, v in p2.items() if k not in rounded}
    for part in ("mean", "scale"):
        np.testing.assert_allclose(p2["scaler"][part], p1["scaler"][part], rtol=1e-12)
        if p1.get("target_scaler"):
            assert p2["target_scaler"][part] == pytest.approx(p1["target_scaler"][part],
                                                              rel=1e-12)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=1e-5)
    t1, t2 = meta1["training"], meta2["training"]
    for key in ("rows", "split", "epochs_run", "stop_reason"):
        assert t2[key] == t1[key], key
    for part, scores in t1["results"].items():
        assert t2["results"][part]["n"] == scores["n"]
        for metric, value in scores.items():
            assert t2["results"][part][metric] == pytest.approx(value, rel=1e-5, abs=1e-7)


@needs_mpi
@pytest.mark.parametrize(("name", "text", "ranks", "rows"), [
    ("lone_cr", "\r".join(L) + "\r", 2, 60),
    ("three_rows", "\n".join(L[:4]) + "\n", 3, 3),
    ("blank_lines_at_the_end", "\n".join(L[:7]) + "\n" * 200, 3, 6),
])
def test_training_takes_every_rank_whatever_the_byte_layout(tmp_path: Path, name: str,
                                                           text: str, ranks: int,
                                                           rows: int) -> None:
    data = tmp_path / f"{name}.csv"
    _write(data, text)
    proc = _train(data, tmp_path / "out", ranks, "--target", "y", "--val-split", "0",
                  "--epochs", "2", "--layers", "4")
    assert proc.returncode == 0, proc.stderr
    _, meta = load_with_metadata(str(tmp_path / "out" / "model.safetensors"))
    assert meta["training"]["rows"] == rows


# -- bad files ---------------------------------------------------------------------------------
def _spoilt(fault: Callable[[str], str], k: int, n: int = N, **layout: object
            ) -> tuple[str, int]:
    """The file text of ``n`` records (two-line quoted notes every third row) with record
    ``k`` (1 = the first data record) changed by ``fault``, and that record's spreadsheet row."""
    records = _records(n, seed=2, quoted=True)
    records[k] = fault(records[k])
    text, rows = _lines(records, **layout)  # type: ignore[arg-type]
    return text, rows[k]


def _short(r: str) -> str:
    return r.rsplit(",", 1)[0]


def _inf(r: str) -> str:
    return "-inf," + r.split(",", 1)[1]


def _word(r: str) -> str:  # a non-UTF-8 byte (latin-1 e-acute), written with surrogateescape
    return r.replace(",red,", ",caf\udce9,").replace(",blue,", ",caf\udce9,").replace(
        ",green,", ",caf\udce9,")


BAD = {  # name: (fault, record, layout, expected message with {row})
    "short_row": (_short, 80, {"blanks": (1, 30, 50, 79, 80), "eol": "\r\n"},
                  "row {row} has 3 values but the header has 4 columns"),
    "extra_value": (lambda r: r + ",9", 80, {"blanks": (2, 40, 70)},
                    "row {row} has 5 values but the header has 4 columns"),
    "unclosed_quote": (lambda r: r.replace(",red,", ',"red,').replace(",blue,", ',"blue,'
                                                                     ).replace(",green,",
                                                                               ',"green,'),
                       N, {"blanks": (3,)}, "a quoted value opened in row {row} is never "
                       "closed"),
    "infinite": (_inf, 80, {"blanks": (2, 40, 70)},
                 "an infinite value at row {row}, feature 'a'"),
    "not_utf8": (_word, 80, {"blanks": (3,)},
                 "byte 0xe9 at row {row}, column 'c' cannot be decoded"),
}


def _refused(proc: subprocess.CompletedProcess, message: str, out: Path) -> None:
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert proc.stderr.count("chainrule: error:") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "failed:" not in proc.stderr, proc.stderr
    assert not (out / "model.safetensors").exists()


@needs_mpi
@pytest.mark.parametrize("case", list(BAD))
def test_a_fault_in_the_last_share_is_named_once(tmp_path: Path, case: str) -> None:
    fault, k, layout, message = BAD[case]
    text, row = _spoilt(fault, k, **layout)
    if case == "not_utf8":
        data = (tmp_path / "t.csv")
        data.write_bytes(text.encode("utf-8", "surrogateescape"))
    else:
        _write(tmp_path / "t.csv", text)
    proc = _train(tmp_path / "t.csv", tmp_path / "out", 3, "--target", "y", "--epochs", "2")
    _refused(proc, message.format(row=row), tmp_path / "out")


@needs_mpi
@pytest.mark.parametrize(("text", "options", "message"), [
    (_rich(), ("--target", "nosuch"), "no column named 'nosuch'"),
    ("a,b,c,y\n", ("--target", "y"), "the file has a header but no data rows"),
    (_rich(), ("--epochs", "2"), "--data needs --target COL"),
    (_rich(), ("--target", "y", "--patience", "3", "--val-split", "0"),
     "--patience needs a validation split"),
    ("\n".join(_records(3000, seed=2, quoted=True)[:2900] + ["0.1,0.2,re\x00d,yes"]
               + _records(3000, seed=2, quoted=True)[2900:]) + "\n",
     ("--target", "y"), "NUL byte (0x00) at row 2901"),  # past the first 64 KiB
])
def test_a_bad_job_is_refused_once(tmp_path: Path, text: str, options: tuple,
                                   message: str) -> None:
    _write(tmp_path / "t.csv", text)
    proc = _train(tmp_path / "t.csv", tmp_path / "out", 3, "--epochs", "2", *options)
    _refused(proc, message, tmp_path / "out")


# -- the Python API ----------------------------------------------------------------------------
@needs_mpi
def test_train_on_a_dataframe_under_mpi_equals_one_process(tmp_path: Path) -> None:
    from mpi_shares_cases_api import frame, train_frame

    one = train_frame(str(tmp_path / "one"), False)
    proc = run_bounded(3, script("mpi_shares_cases_api.py"), str(tmp_path / "many"),
                       PYTHONPATH=SRC)
    assert proc.returncode == 0, proc.stderr
    m1, meta1 = load_with_metadata(one.path)
    m2, meta2 = load_with_metadata(str(tmp_path / "many" / "model.safetensors"))
    p1, p2 = meta1["preprocessing"], meta2["preprocessing"]
    assert p1["columns"] == p2["columns"] and p1["feature_names"] == p2["feature_names"]
    assert len(p1["feature_names"]) > frame().shape[1]  # one-hot and date parts: typed
    np.testing.assert_allclose(p2["scaler"]["mean"], p1["scaler"]["mean"], rtol=1e-12)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(b.data, a.data, rtol=1e-4, atol=1e-5)
    got = json.loads((tmp_path / "many" / "result.json").read_text())
    assert got["notes"] == one.notes
    for part, scores in one.metrics.items():
        for metric, value in scores.items():
            assert got["metrics"][part][metric] == pytest.approx(value, rel=1e-5)
