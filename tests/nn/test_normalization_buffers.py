"""A BatchNorm running variance that cannot be one (negative; zero with eps=0) is refused
when a model file or a checkpoint is loaded, naming the buffer: the model would predict NaN.
The rule lives with the layer (``check_buffer``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ModelFileError
from chainrule.io import read_safetensors, write_safetensors


def _model(eps: float = 1e-5) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4, eps=eps), nn.ReLU(),
                         nn.Sequential(nn.Linear(4, 4, rng=1), nn.BatchNorm1d(4, eps=eps)))


@pytest.mark.parametrize("key, value", [("1.running_var", -1e-3), ("3.1.running_var", -2.0)])
def test_a_model_file_with_a_negative_running_variance_is_refused(key, value,
                                                                  tmp_path: Path) -> None:
    model = _model()
    state = model.state_dict()
    state[key][2] = value
    model.load_state_dict(state)
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    with pytest.raises(ModelFileError, match=rf"buffer '{key}' holds {value} at \[2\]"):
        cr.load(path)


def test_zero_running_variance_with_eps_zero_is_refused(tmp_path: Path) -> None:
    model = _model(eps=0.0)
    model[1].running_var[0] = 0.0
    path = tmp_path / "m.safetensors"
    cr.save(model, path)
    with pytest.raises(ModelFileError, match=r"'1\.running_var' holds 0 at \[0\] and eps is 0"):
        cr.load(path)


def test_a_checkpoint_with_a_negative_running_variance_is_refused(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=1))
    path = tmp_path / "run.ckpt"
    cr.fit(model, X, y, epochs=1, batch_size=8, verbose=0, checkpoint=path)
    tensors, meta = read_safetensors(path)
    tensors["model.1.running_var"][1] = -0.5
    write_safetensors(path, tensors, meta)
    fresh = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=1))
    with pytest.raises(ModelFileError, match=r"buffer 'model.1.running_var' holds -0.5 at \[1\]"):
        cr.fit(fresh, X, y, epochs=2, batch_size=8, verbose=0, checkpoint=path, resume=True)
