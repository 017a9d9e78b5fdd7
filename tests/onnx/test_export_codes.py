"""A pipeline whose table step target-encodes a column of many values (chainrule.data.codes)
exports to ONNX: onnxruntime gives chainrule's probabilities and labels for frequent, rare,
unseen and missing values (the empty string and the other missing-value markers)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.data import StandardScaler
from chainrule.data.columns import infer_columns
from chainrule.pipeline import Head, Pipeline, TableStep
from chainrule.training import tasks

pd = pytest.importorskip("pandas")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule.onnx import export_onnx  # noqa: E402


def test_a_target_encoded_column_exports_and_agrees(tmp_path):
    rng = np.random.default_rng(0)
    n = 900
    shop = np.array([f"s{k}" for k in rng.integers(0, 150, n)], dtype=object)
    shop[rng.random(n) < 0.05] = None
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "shop": shop, "kind": rng.choice(["a", "b"], n)})
    names = ["low", "mid", "high"]
    y = np.digitize(x + rng.normal(size=n), [-0.5, 0.5])
    table = TableStep(infer_columns(frame)).fit(frame, target=y, classes=names)
    assert table.columns[1].codes is not None
    X = table.transform(frame, fitted_rows=np.arange(n))
    net = nn.Sequential(nn.Linear(X.shape[1], 8, rng=0), nn.Tanh(), nn.Linear(8, 3, rng=1))
    pipe = Pipeline([table, StandardScaler().fit(X)], net, Head(tasks.get("multiclass"), names))
    rows = frame.iloc[:12].copy()
    rows.loc[0, "shop"] = "never-seen"
    rows.loc[1, "shop"] = None
    proto = export_onnx(pipe, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")), full_check=True)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    shop_in = rows["shop"].astype(object).where(rows["shop"].notna(), "").to_numpy().copy()
    shop_in[2] = "NA"  # a missing-value marker is a missing value too
    rows.loc[2, "shop"] = None
    probs, labels = session.run(None, {
        "features": rows[["x"]].to_numpy(np.float32),
        "shop": shop_in.astype(str).reshape(-1, 1),
        "kind": rows["kind"].to_numpy().astype(str).reshape(-1, 1)})
    np.testing.assert_allclose(probs, pipe.predict_proba(rows), atol=2e-6)
    assert labels.tolist() == pipe.predict(rows).tolist()
