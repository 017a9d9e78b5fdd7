"""Target encoding of categorical columns with many values (chainrule.data.codes): the
numbers, the folds, classes, shares of the rows over ranks (threads meeting at each gather,
tests/data/ranks.py), the model-file form and its checks."""

from __future__ import annotations

import numpy as np
import pytest
from ranks import ThreadRanks

from chainrule.data import codes as codes_module
from chainrule.data.codes import FOLDS, RARE, SMOOTHING, Codes, fit_codes
from chainrule.data.columns import TableEncoder, infer_columns
from chainrule.errors import DataError

pd = pytest.importorskip("pandas")


def _column(n=600, values=120, seed=0):
    rng = np.random.default_rng(seed)
    text = np.array([f"v{k}" for k in rng.integers(0, values, n)], dtype=object)
    text[rng.random(n) < 0.05] = None
    effect = {f"v{k}": rng.normal() for k in range(values)}
    y = np.array([effect.get(t, 0.0) for t in text]) + rng.normal(0, 0.3, n)
    return text, y


def test_the_table_is_the_smoothed_means_and_the_frequencies():
    text, y = _column()
    (c,) = fit_codes([text], y, None)
    prior = y.mean()
    for cat in c.categories[:5]:
        rows = text == cat
        want = (y[rows].sum() + SMOOTHING * prior) / (rows.sum() + SMOOTHING)
        i = c.categories.index(cat)
        assert c.table[i, 0] == pytest.approx(want)
        assert c.table[i, 1] == pytest.approx(rows.sum() / len(y))
        assert rows.sum() >= RARE
    counts = pd.Series(text).value_counts()
    assert c.pooled == int((counts < RARE).sum())
    missing = np.array([t is None for t in text])
    want = (y[missing].sum() + SMOOTHING * prior) / (missing.sum() + SMOOTHING)
    assert c.table[c.missing_level, 0] == pytest.approx(want)


def test_out_of_fold_numbers_leave_each_rows_own_fold_out():
    text, y = _column()
    (c,) = fit_codes([text], y, None)
    folds = np.random.default_rng(codes_module._SEED).integers(0, FOLDS, len(y))
    prior = y.mean()
    r = next(i for i, t in enumerate(text) if t == c.categories[0])
    same = (text == text[r]) & (folds != folds[r])
    want = (y[same].sum() + SMOOTHING * prior) / (same.sum() + SMOOTHING)
    assert c.oof[r, 0] == pytest.approx(want)
    assert c.oof.shape == (len(y), 2)


def test_classes_give_one_share_for_two_and_one_per_class_beyond():
    text, y = _column()
    two = (y > 0).astype(np.int64)
    (c,) = fit_codes([text], two, ["no", "yes"])
    assert c.outputs == ["P(yes)", "frequency"] and c.table.shape[1] == 2
    three = np.digitize(y, [-0.5, 0.5])
    (c,) = fit_codes([text], three, ["a", "b", "c"])
    assert c.outputs == ["P(a)", "P(b)", "P(c)", "frequency"]
    assert np.allclose(c.table[:, :3].sum(axis=1), 1.0)


def test_shares_over_three_ranks_give_what_one_process_fits():
    text, y = _column(n=601)
    (alone,) = fit_codes([text], y, None)
    cuts = [0, 150, 390, 601]

    def rank_fit(comm, rank):
        part = slice(cuts[rank], cuts[rank + 1])
        return fit_codes([text[part]], y[part], None, comm, rank)[0]

    fitted = ThreadRanks(3).run(rank_fit)
    for rank, c in enumerate(fitted):
        assert c.categories == alone.categories
        np.testing.assert_allclose(c.table, alone.table, rtol=1e-12)
        np.testing.assert_allclose(c.oof, alone.oof[cuts[rank]:cuts[rank + 1]], rtol=1e-12)


def test_the_encoder_keeps_few_values_one_hot_and_saves_the_codes():
    text, y = _column()
    frame = pd.DataFrame({"many": text, "few": np.where(y > 0, "up", "down"), "x": y * 0})
    frame["x"] = np.arange(len(frame)) % 7
    enc = TableEncoder(infer_columns(frame)).fit(frame, target=y)
    assert enc.feature_names == ["many.mean", "many.frequency", "few=down", "few=up", "x"]
    again = TableEncoder.from_dict(enc.to_dict())
    np.testing.assert_array_equal(again.transform(frame), enc.transform(frame))
    assert "codes" not in enc.to_dict()["columns"][1]  # a one-hot column reads as before
    without = TableEncoder(infer_columns(frame)).fit(frame)  # no target: one-hot, as before
    assert len(without.feature_names) > 100
    with pytest.raises(DataError, match="fitted_rows"):
        again.transform(frame, fitted_rows=np.arange(len(frame)))


@pytest.mark.parametrize("damage, match", [
    (lambda d: d.update(table=[[1.0]]), "rows of"),
    (lambda d: d.update(categories=["a", "a"]), "distinct"),
    (lambda d: d.update(outputs=[]), "outputs"),
    (lambda d: d.update(pooled=-1), "pooled"),
    (lambda d: d["table"][0].__setitem__(0, float("nan")), "finite"),
])
def test_a_damaged_table_is_refused(damage, match):
    text, y = _column()
    d = fit_codes([text], y, None)[0].to_dict()
    damage(d)
    with pytest.raises(DataError, match=match):
        Codes.from_dict(d, "column 0")


def _rare_and_unseen():
    text, y = _column()
    frame = pd.DataFrame({"many": text})
    counts = frame["many"].value_counts()
    rare = str(counts.index[-1])
    assert counts.iloc[-1] < RARE
    return frame, y, rare


def test_a_rare_training_value_is_known_and_an_unseen_one_is_refused_when_asked():
    frame, y, rare = _rare_and_unseen()
    enc = TableEncoder(infer_columns(frame), unknown="error").fit(frame, target=y)
    codes = enc.columns[0].codes
    assert rare in codes.rare and len(codes.rare) == codes.pooled
    rows = pd.DataFrame({"many": [codes.categories[0], rare, None]})
    X = enc.transform(rows)  # a rare training value is not unseen: no error
    np.testing.assert_array_equal(X[1], codes.table[codes.rare_level])
    again = TableEncoder.from_dict(enc.to_dict())  # the model-file form keeps the rare names
    assert again.columns[0].codes.rare == codes.rare
    new = pd.DataFrame({"many": [codes.categories[0], "never-seen"]})
    for e in (enc, again):
        with pytest.raises(DataError, match=r"column 'many' holds the value 'never-seen' not "
                                            r"seen in training \(first at row 3\)"):
            e.transform(new)
    # the default policy reads the rare level and lists the value, as the one-hot path does
    X = enc.transform(new, "zeros")
    np.testing.assert_array_equal(X[1], codes.table[codes.rare_level])
    assert enc.unknown == {"many": ["never-seen"]} and enc.target_encoded == ["many"]
    enc.transform(rows, "zeros")
    assert enc.unknown == {}


def test_a_model_file_without_the_rare_names_takes_any_value():
    frame, y, rare = _rare_and_unseen()
    d = TableEncoder(infer_columns(frame), unknown="error").fit(frame, target=y).to_dict()
    del d["columns"][0]["codes"]["rare"]  # as written before the names were kept
    old = TableEncoder.from_dict(d)
    assert old.columns[0].codes.rare is None
    X = old.transform(pd.DataFrame({"many": [rare, "never-seen"]}))
    np.testing.assert_array_equal(X[0], X[1])
    assert old.unknown == {}


@pytest.mark.parametrize("damage", [
    lambda d: d.update(rare=["x"] * d["pooled"]),
    lambda d: d.update(rare=d["rare"][:-1]),
    lambda d: d.update(rare=d["rare"][:-1] + [d["categories"][0]]),
    lambda d: d.update(rare="x"),
])
def test_a_damaged_rare_list_is_refused(damage):
    text, y = _column()
    d = fit_codes([text], y, None)[0].to_dict()
    damage(d)
    with pytest.raises(DataError, match=r"codes\.rare"):
        Codes.from_dict(d, "column 0")


def test_the_warning_says_how_each_column_read_its_unseen_values():
    from chainrule.data.columns import unknown_warning
    text = unknown_warning({"zip": ["0150"]}, "test rows hold new categories, encoded", ["zip"])
    assert text == ("test rows hold new categories, encoded as the column's rare categories: "
                    "column 'zip': '0150'")
