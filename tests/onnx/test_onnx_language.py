"""The character models export to ONNX (bigram, mlp, rnn, gru, lstm) and onnxruntime gives
chainrule's logits; the causal transformer says why it does not export yet."""

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


def test_the_causal_transformer_names_what_is_missing(tmp_path):
    model = CharTransformer(11, 8, 16, 1, 2, 6, rng=0)
    with pytest.raises(cr.ConfigError, match="causal mask"):
        cr.export_onnx(model, tmp_path / "m.onnx")
