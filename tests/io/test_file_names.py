"""Every reader and writer of model files answers a bad file name (a NUL, an empty name, a
number, bytes, a folder) with a ChainruleError naming it, never a raw Python error; an int is
never taken for an open file descriptor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, ModelFileError
from chainrule.io import read_header, read_safetensors, write_safetensors
from chainrule.tools.saving import load_weights, read_metadata, save_weights
from chainrule.training.checkpoint import read_checkpoint

MODEL = nn.Sequential(nn.Linear(2, 2, rng=0))

READERS = {"load": cr.load, "read_metadata": read_metadata, "load_weights": load_weights,
           "read_safetensors": read_safetensors, "read_header": read_header,
           "read_checkpoint": read_checkpoint}
WRITERS = {"save": lambda p: cr.save(MODEL, p),
           "save_weights": lambda p: save_weights(MODEL.state_dict(), p),
           "write_safetensors": lambda p: write_safetensors(p, {"w": np.ones(2)})}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("path, says", [("a\0b", "NUL"), ("", "empty")])
def test_readers_name_a_bad_file_name(reader, path, says) -> None:
    with pytest.raises(ModelFileError, match=says):
        READERS[reader](path)


@pytest.mark.parametrize("reader", [r for r in READERS if r != "load"])  # load checked it
@pytest.mark.parametrize("path", [0, 3.5, None])
def test_readers_name_a_file_name_of_the_wrong_type(reader, path) -> None:
    # 0 would be taken for an open file descriptor (standard input) by open()
    with pytest.raises(ModelFileError, match=r"a file name must be a str or os\.PathLike"):
        READERS[reader](path)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("path, says", [("a\0b", "NUL"), ("", "empty")])
def test_writers_name_a_bad_file_name(writer, path, says, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written anywhere else
    with pytest.raises(ConfigError, match=says):
        WRITERS[writer](path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("reader", READERS)
def test_a_folder_is_named_as_one_with_the_model_file_inside(reader, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="it is a folder, not a file; give the path"):
        READERS[reader](tmp_path)
    cr.save(MODEL, tmp_path / "model.safetensors")  # a training run's output folder
    with pytest.raises(ModelFileError, match=r"the model file inside it is .*model\.safetensors"):
        READERS[reader](tmp_path)


@pytest.mark.parametrize("state, says", [(MODEL, "model.state_dict"), (5, "got int"),
                                         ([np.ones(2)], "got list")])
def test_save_weights_names_a_state_that_is_not_a_dict(state, says, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=says):
        save_weights(state, tmp_path / "w.safetensors")
