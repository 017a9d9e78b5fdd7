"""A file replaced (``os.replace``) while it is read: the reader sees the old version or the
new one, whole, never a mix and never "changed while it was read"."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ModelFileError
from chainrule.io import open_safetensors, read_header, read_safetensors, read_tensors
from chainrule.io import safetensors as st
from chainrule.training.checkpoint import read_checkpoint


def _version(path: Path, k: int) -> None:
    """Version k: a tensor of k + 1 values all equal to k, and metadata saying k."""
    st.write_safetensors(path, {"w": np.full(k + 1, float(k))}, {"version": str(k)})


def _consistent(tensors: dict[str, np.ndarray], meta: dict[str, str]) -> int:
    k = int(meta["version"])
    np.testing.assert_array_equal(tensors["w"], np.full(k + 1, float(k)))
    return k


@pytest.fixture
def replace_after_header(monkeypatch: pytest.MonkeyPatch):
    """Make the worst moment happen every time: just after a reader parsed a header, another
    writer replaces the file with a version of another size."""
    def arm(path: Path, write_new) -> list[int]:
        parse = st.parse_json
        done: list[int] = []

        def parse_then_replace(*args, **kwargs):
            out = parse(*args, **kwargs)
            if not done:
                done.append(1)
                write_new()
            return out

        monkeypatch.setattr(st, "parse_json", parse_then_replace)
        return done
    return arm


def test_read_safetensors_sees_the_version_whose_header_it_read(tmp_path: Path,
                                                              replace_after_header) -> None:
    path = tmp_path / "t.safetensors"
    _version(path, 1)
    done = replace_after_header(path, lambda: _version(path, 5))
    tensors, meta = read_safetensors(path)
    assert done and _consistent(tensors, meta) == 1
    assert _consistent(*read_safetensors(path)) == 5  # the next read sees the new one


def test_load_sees_one_version_of_a_model_file(tmp_path: Path, replace_after_header) -> None:
    path = tmp_path / "m.safetensors"
    old = nn.Sequential(nn.Linear(2, 3, rng=0))
    new = nn.Sequential(nn.Linear(2, 3, rng=1), nn.Tanh(), nn.Linear(3, 1, rng=2))
    cr.save(old, path)
    done = replace_after_header(path, lambda: cr.save(new, path))
    loaded = cr.load(path)
    assert done and len(loaded) == 1
    np.testing.assert_array_equal(loaded[0].weight.data, old[0].weight.data)


def test_a_checkpoint_replaced_while_read_gives_the_old_one(tmp_path: Path,
                                                            replace_after_header) -> None:
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    path = tmp_path / "run.ckpt"
    model = nn.Sequential(nn.Linear(2, 2, rng=0))
    cr.fit(model, X, y, epochs=1, batch_size=None, verbose=0, checkpoint=path)
    first = read_checkpoint(path)

    def next_epoch() -> None:  # resuming counts epochs from the start of the run
        cr.fit(model, X, y, epochs=2, batch_size=None, verbose=0, checkpoint=path,
               resume=True)

    done = replace_after_header(path, next_epoch)
    state = read_checkpoint(path)
    assert done and state["epoch"] == first["epoch"] == 1
    for key, value in first["model"].items():
        np.testing.assert_array_equal(state["model"][key], value)
    assert read_checkpoint(path)["epoch"] == 2


def test_read_tensors_after_read_header_names_a_replacement(tmp_path: Path) -> None:
    # The two-step form cannot see the old file once it is gone: it says so, and what to use.
    path = tmp_path / "t.safetensors"
    _version(path, 1)
    header = read_header(path)
    _version(path, 1)  # same size and content, but another file
    with pytest.raises(ModelFileError, match="replaced or changed after its header"):
        read_tensors(header)
    with open_safetensors(path) as held:
        _version(path, 3)
        assert read_tensors(held)["w"].tolist() == [1.0, 1.0]


def _writer(path: str, start, stop) -> None:
    start.wait()
    k = 0
    while not stop.is_set():
        _version(Path(path), k % 7)
        k += 1


def test_a_reader_never_sees_a_mix_while_another_process_replaces_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    _version(path, 0)
    ctx = multiprocessing.get_context("spawn" if os.name == "nt" else "fork")
    start, stop = ctx.Barrier(2), ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(path), start, stop))
    proc.start()
    seen = set()
    try:
        start.wait(timeout=30)
        # at least 400 reads, and on until the writer has replaced the file at least once:
        # on a loaded machine the writer may not run at all during the first 400
        deadline = time.monotonic() + 30
        reads = 0
        while reads < 400 or (len(seen) < 2 and time.monotonic() < deadline):
            seen.add(_consistent(*read_safetensors(path)))
            reads += 1
    finally:
        stop.set()
        proc.join(timeout=30)
    assert proc.exitcode == 0
    assert len(seen) > 1  # the writer did replace the file while the reader read it


def test_threads_loading_while_one_thread_saves(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    models = [nn.Sequential(*[nn.Linear(3, 3, rng=i) for _ in range(1 + i % 3)])
              for i in range(3)]
    cr.save(models[0], path)
    start, stop = threading.Barrier(3), threading.Event()
    errors: list[BaseException] = []

    def save() -> None:
        start.wait()
        k = 0
        while not stop.is_set():
            cr.save(models[k % 3], path)
            k += 1

    def load() -> None:
        start.wait()
        try:
            for _ in range(150):
                got = cr.load(path)
                want = models[(len(got) - 1) % 3]
                np.testing.assert_array_equal(got[0].weight.data, want[0].weight.data)
        except BaseException as err:  # reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=save), threading.Thread(target=load),
               threading.Thread(target=load)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join(timeout=60)
    stop.set()
    threads[0].join(timeout=60)
    assert not errors, errors[0]
