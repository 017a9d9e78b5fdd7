"""The sums of a pass over data (training/tally.py): a Scoring's true classes, worked out
once a run, are those each batch would work out itself, and its tallies start from zero."""

import numpy as np
import pytest

from chainrule.distributed import communicator
from chainrule.training import metrics, tasks
from chainrule.training.tally import Scoring, Tally

TARGETS = {  # a task and targets of its kind
    "binary": (tasks.get("binary"), np.array([[0.0], [1.0], [0.7], [0.2], [1.0]])),
    "binary_logits": (tasks.get("binary_logits"),
                      np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0], [0.4, 0.6]])),
    "multiclass": (tasks.get("multiclass"), np.array([3, 0, 2, 1, 2])),
    "one_hot": (tasks.get("multiclass"), np.eye(4)[[3, 0, 2, 1, 2]]),
}


@pytest.mark.parametrize("kind", sorted(TARGETS))
def test_a_batchs_classes_are_a_slice_of_the_runs(kind):
    task, y = TARGETS[kind]
    scoring = Scoring([metrics.get("accuracy")], task, y)
    for rows in (slice(1, 4), np.array([4, 0, 2]), slice(0, 0)):
        np.testing.assert_array_equal(scoring.classes(rows), task.target_classes(y[rows]))
    np.testing.assert_array_equal(scoring.classes(), task.target_classes(y))


def test_no_classes_where_no_metric_reads_them():
    scoring = Scoring([metrics.get("mse")], tasks.get("regression"), np.zeros((3, 1)))
    assert scoring.classes() is None and scoring.classes(slice(0, 2)) is None


@pytest.mark.parametrize("names", [["accuracy", "log_loss"], ["mse", "r2", "mae"], []])
def test_tallies_with_and_without_known_classes_agree(names):
    rng = np.random.default_rng(0)
    if names and names[0] == "mse":
        task, y = tasks.get("regression"), rng.normal(size=(12, 2))
        out = rng.normal(size=(12, 2))
    else:
        task, y = tasks.get("multiclass"), rng.integers(0, 3, 12)
        out = rng.normal(size=(12, 3))
    chosen = [metrics.get(n) for n in names]
    scoring = Scoring(chosen, task, y)
    comm = communicator(False)
    plain, known = Tally(chosen, task, y), scoring.tally()
    assert {k: v.tolist() for k, v in known.stats.items()} == \
        {k: v.tolist() for k, v in plain.stats.items()}
    for rows in (slice(0, 5), slice(5, 12)):
        plain.add(0.5, 5.0, out[rows], y[rows], None)
        known.add(0.5, 5.0, out[rows], y[rows], None, scoring.classes(rows))
    assert known.results(comm) == plain.results(comm)
    fresh = scoring.tally()  # the first tally's sums did not leak into the next
    assert fresh.loss == fresh.weight == 0.0
    assert all(not v.any() for v in fresh.stats.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classes_of_outputs_in_their_own_type_are_those_of_their_float64_copy(dtype):
    # the largest output per row, read without the float64 copy: ties (the first wins), NaN
    # (argmax picks the first NaN) and infinities included
    rng = np.random.default_rng(0)
    out = rng.normal(size=(50, 4)).astype(dtype)
    out[3] = [1.0, 2.0, 2.0, 0.0]
    out[4, 2] = np.nan
    out[5] = [np.inf, -np.inf, np.inf, 0.0]
    task = tasks.get("multiclass")
    expected = out.astype(np.float64).argmax(axis=1)
    np.testing.assert_array_equal(task.classes(out), expected)
    assert task.classes(out).dtype == np.int64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["binary", "binary_logits"])
def test_binary_classes_in_their_own_type_are_those_of_their_float64_copy(name, dtype):
    task = tasks.get(name)
    cut = task.cut
    near = np.nextafter(dtype(cut), dtype(1)), np.nextafter(dtype(cut), dtype(-1))
    out = np.array([[cut], [near[0]], [near[1]], [np.nan], [np.inf], [-np.inf]], dtype=dtype)
    for z in (out, np.hstack([out, out[::-1]])):  # one column, and one decision a column
        expected = (z.astype(np.float64) > cut).astype(np.int64)
        got = task.classes(z)
        np.testing.assert_array_equal(got, expected[:, 0] if z.shape[1] == 1 else expected)
        assert got.dtype == np.int64
