"""``chainrule info`` lists the inputs ``chainrule export`` gives the ONNX file: read back from
the exported file with onnx, for a CLI-trained table model, a network saved by cr.save, and a
model with a date column (refused by both with the same reason)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("pandas")

import chainrule as cr  # noqa: E402
from chainrule import nn  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
TYPES = {"float32": "FLOAT", "string": "STRING"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _table(path: Path, n: int = 60, dates: bool = False) -> None:
    """A penguin-like file: an ID, two categories (one with gaps), numbers with NA, a free
    note, optionally a date, and the species."""
    rng = np.random.default_rng(0)
    header = ["id", "island", "bill_mm", "note", "mass_g", "colour"] + \
        (["seen_on"] if dates else []) + ["species"]
    lines = [",".join(header)]
    for i in range(n):
        row = [str(1000 + i), ["Torgersen", "Biscoe", "Dream"][i % 3] if i % 11 else "",
               f"{40 + 5 * (i % 3) + rng.normal(0, 1):.1f}" if i % 7 else "NA", f"n{i}",
               str(int(3700 + 600 * (i % 3) + rng.normal(0, 100))), ["red", "blue"][i % 2]]
        row += [f"2024-01-{1 + i % 28:02d}"] if dates else []
        lines.append(",".join(row + [["Adelie", "Gentoo", "Chinstrap"][i % 3]]))
    path.write_text("\n".join(lines) + "\n")


def _train(d: Path, dates: bool = False) -> Path:
    _table(d / "t.csv", dates=dates)
    res = run("train", "--data", "t.csv", "--target", "species", "--drop", "note",
              "--epochs", "5", "--no-plots", "-q", "--out", "run", cwd=d)
    assert res.returncode == 0, res.stderr
    return d / "run" / "model.safetensors"


def _info_inputs(model: Path, cwd: Path) -> list[str]:
    res = run("info", str(model), cwd=cwd)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("onnx inputs:"))
    out = [lines[start].removeprefix("onnx inputs:").strip()]
    for ln in lines[start + 1:]:  # one input a line, indented under the first
        if not ln.startswith(" " * 14):
            break
        out.append(ln.strip())
    return out


def _exported_inputs(model: Path, cwd: Path) -> list[tuple[str, str, list]]:
    res = run("export", str(model), "--out", "m.onnx", cwd=cwd)
    assert res.returncode == 0, res.stderr
    graph = onnx.load(str(cwd / "m.onnx")).graph
    return [(i.name, onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type),
             [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim])
            for i in graph.input]


def _parsed(lines: list[str]) -> list[tuple[str, str, list, list[str]]]:
    out = []
    for line in lines:
        m = re.fullmatch(r"(\S+): (\w+) \[([^\]]*)\](?: \((.*); NaN = missing\))?", line)
        assert m, line
        dims = [int(d) if d.isdigit() else d for d in m.group(3).split(", ")]
        out.append((m.group(1), TYPES[m.group(2)], dims,
                    m.group(4).split(", ") if m.group(4) else []))
    return out


def test_info_lists_the_inputs_of_the_exported_table_model(tmp_path):
    model = _train(tmp_path)
    listed = _parsed(_info_inputs(model, tmp_path))
    assert [entry[:3] for entry in listed] == _exported_inputs(model, tmp_path)
    # The numeric columns in the file's order; each category its own string input; the
    # identifier, the dropped note and the target are no inputs.
    assert listed[0] == ("features", "FLOAT", ["N", 2], ["bill_mm", "mass_g"])
    assert [e[0] for e in listed[1:]] == ["island", "colour"]
    assert all(e[1:3] == ("STRING", ["N", 1]) for e in listed[1:])


def test_info_lists_the_input_of_a_saved_network(tmp_path):
    net = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.ReLU(), nn.Flatten())
    cr.save(net, tmp_path / "net.safetensors")
    listed = _parsed(_info_inputs(tmp_path / "net.safetensors", tmp_path))
    exported = _exported_inputs(tmp_path / "net.safetensors", tmp_path)
    assert [e[:3] for e in listed] == exported
    assert exported == [("input", "FLOAT", ["N", 1, "H", "W"])]


def test_info_gives_the_reason_a_model_with_a_date_column_is_not_exported(tmp_path):
    model = _train(tmp_path, dates=True)
    listed = _info_inputs(model, tmp_path)
    assert len(listed) == 1 and listed[0].startswith("not exportable: ")
    assert "seen_on" in listed[0] and "--drop seen_on" in listed[0]
    res = run("export", str(model), "--out", "m.onnx", cwd=tmp_path)
    assert res.returncode != 0 and "--drop seen_on" in res.stderr
    assert not (tmp_path / "m.onnx").exists()
