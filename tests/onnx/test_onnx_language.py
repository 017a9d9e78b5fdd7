"""The character models export to ONNX (bigram, mlp, rnn, gru, lstm, and the causal
transformer with its mask) and onnxruntime gives chainrule's logits."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.language import CharBigram, CharMLP, CharRecurrent, CharTransformer

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("make, width", [
    (lambda: CharBigram(11, rng=0), 1),
    (lambda: CharMLP(11, 4, 16, 3, rng=0), 3),
    (lambda: CharRecurrent(11, 4, 8, 2, "gru", rng=0), 5),
    (lambda: CharRecurrent(11, 4, 8, 1, "lstm", rng=0), 5),
    (lambda: CharRecurrent(11, 4, 8, 1, "rnn", rng=0), 5),
])
def test_character_models_export_and_onnxruntime_agrees(make, width, tmp_path):
    model = make()
    cr.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    tokens = np.random.default_rng(0).integers(0, 11, size=(3, width))
    got = session.run(None, {session.get_inputs()[0].name: tokens.astype(np.float32)})[0]
    with cr.no_grad():
        want = model(tokens).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_the_causal_transformer_exports_with_its_mask(positions, tmp_path):
    model = CharTransformer(11, 8, 16, 2, 2, 6, positions=positions, rng=0)
    model.eval()
    cr.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(1)
    for length in (6, 3):  # the block size, and shorter: the mask is sliced to the input
        tokens = rng.integers(0, 11, size=(4, length))
        got = session.run(None, {name: tokens.astype(np.float32)})[0]
        with cr.no_grad():
            want = model(tokens).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the mask matters: position 0's logits do not depend on the tokens after it
    a, b = tokens.copy(), tokens.copy()
    b[:, 1:] = (b[:, 1:] + 1) % 11
    first = [session.run(None, {name: t.astype(np.float32)})[0][:, 0] for t in (a, b)]
    np.testing.assert_allclose(first[0], first[1], rtol=1e-6, atol=1e-6)
