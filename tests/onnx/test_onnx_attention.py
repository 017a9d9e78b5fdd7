"""The attention layers' ONNX forms, run by onnxruntime, against chainrule's forward pass."""

from __future__ import annotations

import pytest

from chainrule import nn
from chainrule.errors import ConfigError
from chainrule.nn.attention import PositionalEncoding
from chainrule.nn.transformer import TransformerEncoderLayer

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_helpers import check_export

from chainrule.onnx import export_onnx
from chainrule.onnx.layers import EXPORTS


def test_attention_layers_are_in_the_export_table():
    assert {"PositionalEncoding", "TransformerEncoderLayer"} <= set(EXPORTS)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_with_positions_exports(tmp_path, batch_first, norm_first):
    model = nn.Sequential(
        PositionalEncoding(8, max_len=16, batch_first=batch_first),
        TransformerEncoderLayer(8, 2, 16, batch_first=batch_first, norm_first=norm_first,
                                rng=0),
        nn.Linear(8, 3, rng=1))
    # check_export feeds (3, *shape) and (1, *shape): the first axis is the batch when
    # batch_first, the sequence otherwise; both vary at run time.
    assert check_export(model, (5, 8), tmp_path, example=True) < 2e-5


def test_one_sequence_exports(tmp_path):
    model = nn.Sequential(PositionalEncoding(4, max_len=8), TransformerEncoderLayer(4, 2, 8,
                                                                                    rng=0))
    assert check_export(model, (4,), tmp_path, example=True) < 2e-5


def test_function_activation_refused(tmp_path):
    import chainrule as cr
    layer = TransformerEncoderLayer(4, 2, 8, activation=cr.engine.ops.tanh, rng=0)
    with pytest.raises(ConfigError, match="relu"):
        export_onnx(layer, tmp_path / "m.onnx", example_input=[[[0.0] * 4]])
