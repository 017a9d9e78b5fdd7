"""Helpers shared by the ONNX tests: export, full check, run with onnxruntime, compare."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule.onnx import OPSET, export_onnx  # noqa: E402

ATOL = 2e-5  # float32: a few units in the last place of values near 1


def run_onnx(proto, x):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": np.asarray(x, np.float32)})[0]


def reference(model, x):
    model.eval()
    with cr.no_grad():
        return np.asarray(model(cr.tensor(x)).data, dtype=np.float64)


def check_export(model, shape, tmp_path, example=False, seed=0):
    """Export, full-check, run at batch sizes 3 and 1; returns the max |difference|."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, *shape)).astype(np.float32)
    path = tmp_path / "model.onnx"
    proto = export_onnx(model, path, example_input=x if example else None)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert proto.opset_import[0].version == OPSET == 17
    worst = 0.0
    for batch in (x, x[:1]):
        got = run_onnx(proto, batch)
        want = reference(model, batch)
        assert got.shape == want.shape
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=1e-5)
        worst = max(worst, float(np.abs(got - want).max()))
    return worst
