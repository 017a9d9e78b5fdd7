"""The step table, each step's to_dict/from_dict round trip, fitting over ranks, and the
head's readout against the task's own rule."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import StandardScaler
from chainrule.errors import ConfigError, DataError
from chainrule.pipeline import STEPS, Head, TableStep, TargetStep, get
from chainrule.training import tasks

pd = pytest.importorskip("pandas")


class ThreadRank:
    """Rank ``rank`` of ``size`` threads: ``gather`` returns every rank's value in rank
    order, as an MPI communicator's does."""

    def __init__(self, rank, size, board, barrier):
        self.rank, self.size, self.board, self.barrier = rank, size, board, barrier

    def gather(self, value):
        self.board[self.rank] = value
        self.barrier.wait()
        out = list(self.board)
        self.barrier.wait()  # every rank has read the board before it is written again
        return out


def run_ranks(shares, fn):
    """``fn(share, comm)`` on one thread per share, as ranks of one job."""
    import threading

    board, results = [None] * len(shares), [None] * len(shares)
    barrier = threading.Barrier(len(shares))

    def work(rank):
        results[rank] = fn(shares[rank], ThreadRank(rank, len(shares), board, barrier))

    threads = [threading.Thread(target=work, args=(r,)) for r in range(len(shares))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_the_table_lists_every_step_by_kind() -> None:
    assert sorted(STEPS) == ["columns", "scaler", "target_scaler"]
    for kind, cls in STEPS.items():
        assert cls.kind == kind and get(kind) is cls
    with pytest.raises(ConfigError, match="columns, scaler, target_scaler"):
        get("minmax")


def test_a_table_step_round_trips_with_its_policy() -> None:
    from chainrule.data.columns import infer_columns

    rows = pd.DataFrame({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
    step = TableStep(infer_columns(rows), unknown="error").fit(rows)
    again = TableStep.from_dict(step.to_dict())
    assert again.unknown_policy == "error" and again.to_dict() == step.to_dict()
    np.testing.assert_array_equal(again.transform(rows), step.transform(rows))
    with pytest.raises(DataError, match="not seen in training"):
        again.transform(pd.DataFrame({"x": [1.0], "c": ["z"]}))
    assert again.transform(pd.DataFrame({"x": [1.0], "c": ["z"]}), "zeros").shape == (1, 5)
    assert again.unknown == {"c": ["z"]}


def test_a_scaler_round_trips_and_fits_over_ranks() -> None:
    X = np.random.default_rng(0).normal(3.0, 2.0, (40, 3))
    whole = StandardScaler().fit(X)
    again = StandardScaler.from_dict(whole.to_dict())
    np.testing.assert_array_equal(again.transform(X), whole.transform(X))
    np.testing.assert_allclose(whole.inverse(whole.transform(X)), X)

    scalers = run_ranks([X[:25], X[25:]], lambda share, comm: StandardScaler().fit(share, comm))
    for split in scalers:
        np.testing.assert_allclose(split.mean_, whole.mean_, rtol=1e-13)
        np.testing.assert_allclose(split.scale_, whole.scale_, rtol=1e-13)
    targets = run_ranks([X[:25, 0], X[25:, 0]], lambda share, comm: TargetStep().fit(share, comm))
    one = TargetStep().fit(X[:, 0])
    for t in targets:  # sums over ranks: equal up to the order of addition
        assert t.mean == pytest.approx(one.mean, rel=1e-13)
        assert t.scale == pytest.approx(one.scale, rel=1e-13)


def test_a_target_step_round_trips_and_refuses_a_bad_scale() -> None:
    y = np.array([1.0, 2.0, 4.0, 9.0])
    step = TargetStep().fit(y)
    again = TargetStep.from_dict(step.to_dict())
    np.testing.assert_array_equal(again.transform(y), step.transform(y))
    np.testing.assert_allclose(again.inverse(again.transform(y)), y)
    assert step.to_dict() == {"mean": 4.0, "scale": float(np.std(y))}
    for bad in ({"mean": 0.0, "scale": 0.0}, {"mean": float("nan"), "scale": 1.0},
                {"mean": True, "scale": 1.0}, [1, 2]):
        with pytest.raises(DataError, match="finite mean and a positive"):
            TargetStep.from_dict(bad)


@pytest.mark.parametrize("name", sorted(tasks.TASKS))
def test_the_readout_states_the_task_rule(name: str) -> None:
    """An exporter rebuilds probabilities and classes from the readout alone: it must give
    what the task computes."""
    task = tasks.get(name)
    head = Head(task, ["a", "b", "c"] if name.startswith("multiclass") else ["a", "b"])
    if not task.is_classifier:
        assert head.readout.squash is None and not head.readout.binary
        return
    width = 1 if head.readout.binary else 3
    out = np.random.default_rng(1).normal(0, 3, (50, width))
    if task.output == "sigmoid":
        out = 1 / (1 + np.exp(-out))
    elif task.output == "softmax":
        out = np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)
    r = head.readout
    p = out
    if r.squash == "sigmoid":
        p = 1 / (1 + np.exp(-out))
    elif r.squash == "softmax":
        p = np.exp(out - out.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
    if r.binary:
        p = np.hstack([1 - p, p])
        codes = (out[:, 0] > r.cut).astype(int)
    else:
        codes = out.argmax(axis=1)
    np.testing.assert_allclose(p, head.probabilities(out), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(codes, head.classes(out))


def test_the_head_shapes_targets_for_the_loss() -> None:
    binary = Head(tasks.get("binary"), ["n", "y"]).fit(np.array([0, 1, 1]))
    assert binary.transform(np.array([0, 1, 1])).tolist() == [[0.0], [1.0], [1.0]]
    reg = Head(tasks.get("regression")).fit(np.array([1.0, 3.0]))
    assert reg.transform(np.array([1.0, 3.0])).tolist() == [-1.0, 1.0]
    assert reg.values(np.array([[-1.0], [1.0]])).tolist() == [1.0, 3.0]
