"""The network averaged with a linear model (chainrule.pipeline.blend): the merged network
gives the average exactly, ridge agrees with scikit-learn's Ridge, ``chainrule train`` says
which it kept and saves it, and the saved model exports to ONNX with chainrule's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import Tensor
from chainrule.errors import ConfigError
from chainrule.pipeline import blend
from chainrule.training import build_mlp
from chainrule.workflow import Predictor, TrainConfig, train

pd = pytest.importorskip("pandas")


@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax"])
def test_the_merged_network_is_the_average_before_the_output_activation(output):
    n_out = 1 if output == "sigmoid" else 3
    net = build_mlp(5, [7], n_out, output=output, rng=0)
    lin = build_mlp(5, [], n_out, output=output, rng=1)
    merged = blend.merge(net, lin)
    x = np.random.default_rng(3).normal(size=(40, 5)).astype(np.float32)
    logits = (net[2](net[1](net[0](x))).data + lin[0](x).data) / 2
    want = merged[3](Tensor(logits)).data if output != "identity" else logits
    np.testing.assert_allclose(merged(x).data, want, rtol=1e-5, atol=1e-6)
    assert merged[0].weight.data.shape == (7 + 2 * 5, 5)


def test_only_a_one_hidden_relu_layer_is_merged():
    assert not blend.can_merge(build_mlp(3, [4], 1, activation="tanh", rng=0))
    assert not blend.can_merge(build_mlp(3, [4, 4], 1, rng=0))
    with pytest.raises(ConfigError, match="Linear, ReLU, Linear"):
        blend.merge(build_mlp(3, [], 1, rng=0), build_mlp(3, [], 1, rng=0))
    with pytest.raises(ConfigError, match="inputs"):
        blend.merge(build_mlp(3, [4], 1, rng=0), build_mlp(2, [], 1, rng=0))


def test_ridge_agrees_with_scikit_learn():
    sk = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(60, 4))
    Z[:, 3] = Z[:, 2]  # collinear columns: the penalty keeps the solution defined
    y = Z @ [1.0, -2.0, 0.5, 0.5] + 0.3 + rng.normal(0, 0.1, 60)
    ours = blend.ridge(Z, y, dtype=np.float64)[0]
    theirs = sk.Ridge(alpha=blend.RIDGE).fit(Z, y)
    np.testing.assert_allclose(ours.weight.data[0], theirs.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.bias.data[0], theirs.intercept_, rtol=1e-8)


def _linear_table(path, n=300, classify=False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = x @ [1.0, -0.5, 0.25] + rng.normal(0, 0.5, n)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["kind"] = rng.choice(["p", "q", "r"], n)
    frame["y"] = np.where(y > 0, "yes", "no") if classify else y
    frame.to_csv(path, index=False)
    return frame


@pytest.mark.parametrize("classify", [False, True])
def test_train_reports_and_saves_its_choice_and_the_export_agrees(tmp_path, classify):
    frame = _linear_table(tmp_path / "t.csv", classify=classify)
    result = train(TrainConfig(data=str(tmp_path / "t.csv"), target="y", plots=False,
                               out=str(tmp_path / "run")))
    term = result.summary["linear_term"]
    losses = term["losses"]
    assert set(losses) == {"network", "averaged", "linear"}
    assert term["kept"] == min(losses, key=losses.get)
    assert term["averaged"] == (term["kept"] == "averaged")
    assert term["measured_on"] == "5-fold cross-validation of the 240 training rows"
    start = {"network": "the network alone", "averaged": "the network averaged",
             "linear": "the ridge regression" if not classify else "the logistic regression"}
    assert result.model_choice.startswith(start[term["kept"]])
    pred = Predictor.load(result.path)
    assert pred.meta["training"]["linear_term"] == term
    # a, b, c and kind=p, q, r; the linear model alone has no hidden layer
    hidden = {"network": [64], "averaged": [64 + 2 * 6], "linear": []}[term["kept"]]
    assert pred.meta["training"]["hidden_layers"] == hidden
    assert [m.weight.data.shape[0] for m in pred.network if hasattr(m, "weight")][:-1] == \
        hidden
    ort = pytest.importorskip("onnxruntime")
    from chainrule.onnx import export_onnx

    proto = export_onnx(pred, tmp_path / "m.onnx")
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    rows = frame.drop(columns="y").iloc[:20]
    got = session.run(None, {"features": rows[["a", "b", "c"]].to_numpy(np.float32),
                             "kind": rows["kind"].to_numpy().astype(str).reshape(-1, 1)})
    if classify:
        np.testing.assert_allclose(got[0], pred.predict_proba(rows), atol=2e-6)
    else:
        np.testing.assert_allclose(got[0].ravel(), pred.predict(rows).ravel(), rtol=1e-5,
                                   atol=1e-4)


def test_a_given_architecture_is_kept_as_given(tmp_path):
    _linear_table(tmp_path / "t.csv")
    result = train(TrainConfig(data=str(tmp_path / "t.csv"), target="y", plots=False,
                               layers=[64], out=str(tmp_path / "run")))
    assert result.model_choice == "" and "linear_term" not in result.summary
