"""cr.fit, cr.evaluate, the splits, batching, weights, the guard, checkpoints and cr.diagnose on
inputs of shape (n, ...): images (n, channels, height, width) fed to a conv net directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.errors import ConfigError, DataError
from chainrule.nn.conv import Conv2d
from chainrule.nn.layers import Flatten, Unflatten
from chainrule.nn.normalization import BatchNorm2d
from chainrule.nn.pooling import MaxPool2d
from conftest import needs_sklearn


def _images(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1, 6, 6))
    y = (X[:, 0, :3].sum(axis=(1, 2)) > X[:, 0, 3:].sum(axis=(1, 2))).astype(np.int64)
    return X, y


def _convnet(seed: int = 0, dtype: type = np.float64, batchnorm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [Conv2d(1, 3, 3, padding=1, dtype=dtype, rng=seed)]
    if batchnorm:
        layers.append(BatchNorm2d(3, dtype=dtype))
    layers += [nn.ReLU(), MaxPool2d(2), Flatten(), nn.Linear(3 * 3 * 3, 2, dtype=dtype,
                                                               rng=seed + 1)]
    return nn.Sequential(*layers)


def _params(model: nn.Module) -> list[np.ndarray]:
    return [a.copy() for a in model.state_dict().values()]


QUIET = {"verbose": 0, "seed": 3}


@needs_sklearn
def test_a_conv_net_fit_on_digit_images_reaches_97_percent() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)[:, None]  # (n, 1, 8, 8), as the files hold
    Xtr, Xte, ytr, yte = train_test_split(images, d.target, test_size=0.25, shuffle=True,
                                          random_state=0, stratify=d.target)
    model = nn.Sequential(Conv2d(1, 8, 3, padding=1, rng=0), nn.ReLU(), MaxPool2d(2),
                          Conv2d(8, 16, 3, padding=1, rng=1), nn.ReLU(), MaxPool2d(2),
                          Flatten(), nn.Linear(16 * 2 * 2, 10, rng=2))
    history = cr.fit(model, Xtr, ytr, epochs=15, optimizer="adam", lr=5e-3, batch_size=32,
                     validation_split=0.1, **QUIET)
    # the validation split is stratified: a tenth of each class, rounded per class
    assert history.params["validation_samples"] == sum(
        round(0.1 * c) for c in np.bincount(ytr))
    result = cr.evaluate(model, Xte, yte)
    with cr.no_grad():  # evaluate's accuracy is the plain fraction of right answers
        by_hand = float((model.eval()(Xte).numpy().argmax(axis=1) == yte).mean())
    assert result["accuracy"] == pytest.approx(by_hand, abs=1e-12)
    assert result["accuracy"] >= 0.97, result


def test_images_train_exactly_as_their_flattened_rows_do() -> None:
    """Shuffled mini-batches, a stratified validation split, sample weights and evaluation of
    (n, 1, 6, 6) images give the same numbers as the same net fed (n, 36) rows through
    Unflatten: the training path treats axis 0 as examples and nothing else."""
    X, y = _images()
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(X))
    images, rows = _convnet(), nn.Sequential(Unflatten(1, (1, 6, 6)), *_convnet())
    options = {"epochs": 3, "batch_size": 8, "validation_split": 0.25, "optimizer": "sgd",
               "lr": 0.1, "sample_weight": w, **QUIET}
    h_images = cr.fit(images, X, y, **options)
    h_rows = cr.fit(rows, X.reshape(len(X), -1), y, **options)
    for a, b in zip(_params(images), _params(rows)):
        np.testing.assert_array_equal(a, b)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert h_images[key] == h_rows[key], key
    assert cr.evaluate(images, X, y, sample_weight=w) == cr.evaluate(
        rows, X.reshape(len(X), -1), y, sample_weight=w)


def test_integer_sample_weights_on_images_equal_duplicated_images() -> None:
    X, y = _images(20)
    counts = np.arange(len(X)) % 3 + 1
    weighted, duplicated = _convnet(), _convnet()
    cr.fit(weighted, X, y, epochs=2, batch_size=None, optimizer="sgd", lr=0.5,
           sample_weight=counts.astype(float), **QUIET)
    cr.fit(duplicated, np.repeat(X, counts, axis=0), np.repeat(y, counts), epochs=2,
           batch_size=None, optimizer="sgd", lr=0.5, **QUIET)
    for a, b in zip(_params(weighted), _params(duplicated)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_bad_images_get_clear_errors() -> None:
    X, y = _images()
    with pytest.raises(DataError, match=r"got shape \(48,\) \(use X\.reshape\(-1, 1\)"):
        cr.fit(_convnet(), X[:, 0, 0, 0], y, **QUIET)
    with pytest.raises(DataError, match=r"X has examples of shape \(2, 6, 6\) but the model "
                       r"takes examples of shape \(1, H, W\).*Conv2d"):
        cr.fit(_convnet(), np.concatenate([X, X], axis=1), y, **QUIET)
    with pytest.raises(DataError, match=r"X has examples of shape \(36,\)"):
        cr.fit(_convnet(), X.reshape(len(X), -1), y, **QUIET)
    with pytest.raises(DataError, match=r"val_X has examples of shape \(1, 4, 4\).*"
                       r"Linear\(27, 2\) needs 27 features"):
        cr.fit(_convnet(), X, y, validation_data=(X[:, :, :4, :4], y), **QUIET)
    with pytest.raises(DataError, match=r"2-D with examples as rows, got shape "
                       r"\(48, 1, 6, 6\).*Linear\(36, 2\).*nn\.Flatten"):
        cr.fit(nn.Sequential(nn.Linear(36, 2)), X, y, **QUIET)
    bad = X.copy()
    bad[7, 0, 2, 5] = np.nan
    with pytest.raises(DataError, match=r"X has a NaN at row 7, position \(0, 2, 5\) of the "
                       "example"):
        cr.fit(_convnet(), bad, y, **QUIET)
    bad[7, 0, 2, 5] = -np.inf
    with pytest.raises(DataError, match=r"eval_X has an infinite value at row 7, position "
                       r"\(0, 2, 5\)"):
        cr.evaluate(_convnet(), bad, y)


def test_the_guard_names_the_convolution_that_overflowed() -> None:
    X, y = _images()
    model = _convnet(dtype=np.float32)
    model[0].weight.data *= 1e30  # weights that blew up: the convolution's output overflows
    before = _params(model)
    history = cr.fit(model, (X * 1e10).astype(np.float32), y, epochs=2, **QUIET)
    assert history.stop_reason is not None
    assert "epoch 1, batch 1: the loss became" in history.stop_reason
    assert "the first non-finite output came from layer 0 (Conv2d)" in history.stop_reason
    assert "largest |x| in the batch is" in history.stop_reason
    for a, b in zip(before, _params(model)):  # the weights from before the step are kept
        np.testing.assert_array_equal(a, b)


def _resume_round_trip(tmp_path: Path, batchnorm: bool) -> None:
    X, y = _images()
    options = {"batch_size": 8, "optimizer": "adam", "lr": 0.01,
               "validation_data": (X[:12], y[:12]), **QUIET}
    whole = _convnet(batchnorm=batchnorm)
    cr.fit(whole, X, y, epochs=4, **options)
    path = tmp_path / "run.ckpt"
    cr.fit(_convnet(batchnorm=batchnorm), X, y, epochs=2, checkpoint=path, **options)
    resumed = _convnet(seed=5, batchnorm=batchnorm)  # other initial weights: the file decides
    history = cr.fit(resumed, X, y, epochs=4, checkpoint=path, resume=True, **options)
    assert len(history["loss"]) == 4  # the two epochs from the file and two more
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    with pytest.raises(ConfigError, match="other data"):  # other images: other fingerprint
        cr.fit(_convnet(batchnorm=batchnorm), X[:, :, ::-1], y, epochs=5, checkpoint=path,
               resume=True, **options)


def test_a_checkpointed_image_run_resumes_bit_identically(tmp_path: Path) -> None:
    _resume_round_trip(tmp_path, batchnorm=False)


def test_a_checkpointed_run_with_batchnorm_resumes_bit_identically(tmp_path: Path) -> None:
    _resume_round_trip(tmp_path, batchnorm=True)


def test_diagnose_reports_convolution_filters_and_channels() -> None:
    X, y = _images()
    model = _convnet()
    conv = model[0]
    conv.bias.data[1] = -1e3  # channel 1 is below zero everywhere: a dead ReLU channel
    conv.weight.data[2, ...] = conv.weight.data[0, ...]  # filters 0 and 2 are the same filter
    conv.bias.data[2] = conv.bias.data[0]
    report = cr.diagnose(model, X, y)
    first = report.layers[0]
    assert first.layer == repr(conv)
    assert first.identical_groups == [(0, 2)]
    # by hand: a channel is dead when its pre-activation is <= 0 at every position
    with cr.no_grad():
        z = conv(cr.tensor(X)).numpy()
    assert first.dead_units == tuple(np.flatnonzero((z <= 0).all(axis=(0, 2, 3))))
    assert first.dead_units == (1,)
    assert report.flagged("symmetry") and report.flagged("dead_relu")
    model.zero_grad()
    out = model(cr.tensor(X))
    nn.CrossEntropyLoss()(out, y).backward()
    assert first.weight_grad_norm == pytest.approx(float(np.linalg.norm(conv.weight.grad)))
    bad = X.copy()
    bad[3, 0, 1, 1] = np.nan
    with pytest.raises(DataError, match=r"row 3, position \(0, 1, 1\)"):
        cr.diagnose(model, bad, y)
