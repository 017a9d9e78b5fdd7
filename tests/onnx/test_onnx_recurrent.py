"""Embedding, RNN, LSTM and GRU exported to ONNX (Gather; ONNX's own RNN, LSTM and GRU
operators with the gates reordered), run by onnxruntime against chainrule's forward pass."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ShapeError
from chainrule.nn.embedding import Embedding
from chainrule.nn.recurrent import GRU, LSTM, RNN
from chainrule.onnx.graph import Graph
from chainrule.onnx.layers import export_layer

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx_helpers import ATOL, run_onnx  # noqa: E402

from chainrule.onnx import export_onnx  # noqa: E402

LAYERS = {
    "RNN-tanh": lambda **kw: RNN(3, 4, rng=0, **kw),
    "RNN-relu": lambda **kw: RNN(3, 4, nonlinearity="relu", rng=0, **kw),
    "LSTM": lambda **kw: LSTM(3, 4, rng=0, **kw),
    "GRU": lambda **kw: GRU(3, 4, rng=0, **kw),
}
OPTIONS = {
    "one layer": {},
    "two layers, bidirectional": {"num_layers": 2, "bidirectional": True},
    "batch first, no bias": {"batch_first": True, "bias": False},
    "bidirectional, batch first": {"bidirectional": True, "batch_first": True,
                                   "num_layers": 2},
}


def _randomise_biases(model, seed=1):
    # PyTorch's initial biases are small; larger ones make a wrong gate order show.
    rng = np.random.default_rng(seed)
    for name, p in model.named_parameters():
        if name.startswith("bias"):
            p.data[...] = rng.normal(size=p.data.shape)
    return model


@pytest.mark.parametrize("options", sorted(OPTIONS))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_recurrent_layers_export(name, options, tmp_path):
    model = _randomise_biases(LAYERS[name](**OPTIONS[options]))
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    path = tmp_path / "rnn.onnx"
    proto = export_onnx(model, path, example_input=x)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    model.eval()
    # export_onnx leaves the first axis free (the batch of other networks): the sequence
    # length here, the batch with batch_first; the other keeps the example's size.
    for inputs in (x, x[:1], x[:3]):
        got = run_onnx(proto, inputs)
        want = model(cr.tensor(inputs))[0].data
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_an_unbatched_sequence_exports(name):
    # export_onnx gives networks a batch axis; build a graph whose input is one (T, 3)
    # sequence instead.
    model = _randomise_biases(LAYERS[name](bidirectional=True)).eval()
    x = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    graph = Graph()
    inp = graph.add_input("input", "float32", ["T", 3])
    graph.add_output(export_layer(model, graph, inp, (None, 3)), "output", "float32", ["T", 8])
    proto = graph.to_model()
    onnx.checker.check_model(proto, full_check=True)
    np.testing.assert_allclose(run_onnx(proto, x), model(x)[0].data, atol=ATOL, rtol=1e-5)


def test_embedding_exports_as_gather(tmp_path):
    emb = Embedding(10, 4, padding_idx=0, rng=0)
    idx = np.array([[1, 0, 9], [3, 3, 2]])
    proto = export_onnx(emb, tmp_path / "emb.onnx", example_input=idx)
    assert [n.op_type for n in proto.graph.node][:2] == ["Cast", "Gather"]
    got = run_onnx(proto, idx.astype(np.float32))
    np.testing.assert_array_equal(got, emb(idx).data)


def test_embedding_then_lstm_exports(tmp_path):
    class Tagger(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = Embedding(10, 3, rng=0)
            self.lstm = LSTM(3, 4, batch_first=True, bidirectional=True, rng=1)

        def forward(self, idx):
            return self.lstm(self.emb(idx))[0]

        def to_onnx(self, graph, x, shape):
            x = export_layer(self.emb, graph, x, shape)
            return export_layer(self.lstm, graph, x, self.emb.output_shape(shape))

        def output_shape(self, input_shape):
            return self.lstm.output_shape(self.emb.output_shape(input_shape))

    model = Tagger()
    idx = np.random.default_rng(0).integers(0, 10, size=(2, 5))
    proto = export_onnx(model, tmp_path / "tagger.onnx", example_input=idx)
    np.testing.assert_allclose(run_onnx(proto, idx.astype(np.float32)), model(idx).data,
                               atol=ATOL, rtol=1e-5)


def test_recurrent_export_needs_the_rank():
    with pytest.raises(ShapeError, match="example_input"):
        export_layer(GRU(3, 4), Graph(), "x", None)
