"""model.summary() and the notebook table of a Module: parameter counts against the arrays'
sizes, output shapes against PyTorch's layers of the same configuration, and bad shapes."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule import nn
from chainrule.errors import ShapeError


class Shared(nn.Module):
    """A container with a parameter of its own and one layer used twice."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.inner = nn.Linear(3, 3, rng=0)
        self.again = self.inner
        self.out = nn.Linear(3, 2, rng=1)

    def forward(self, x):
        return self.out(self.again(self.inner(x * self.scale)))


def _conv_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=0), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 6, (3, 2), stride=2, rng=1), nn.AvgPool2d(2, stride=1),
        nn.AdaptiveAvgPool2d(2), nn.Dropout(0.3), nn.Flatten(), nn.Linear(24, 5, rng=2),
        nn.LayerNorm(5), nn.LogSoftmax())


def _torch_conv_net():
    torch = pytest.importorskip("torch")
    t = torch.nn
    return t.Sequential(
        t.Conv2d(3, 8, 3, padding=1), t.BatchNorm2d(8), t.ReLU(), t.MaxPool2d(2),
        t.Conv2d(8, 6, (3, 2), stride=2), t.AvgPool2d(2, stride=1), t.AdaptiveAvgPool2d(2),
        t.Dropout(0.3), t.Flatten(), t.Linear(24, 5), t.LayerNorm(5), t.LogSoftmax(dim=-1))


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1)),
    _conv_net, Shared, lambda: nn.Linear(7, 3, rng=0)])
def test_counts_add_up_to_the_sizes_of_the_arrays(make):
    model = make()
    summary = model.summary()
    # Every distinct parameter array once (the shared Linear is one set of weights).
    # Found from the attributes themselves, not from the registration summary() reads.
    arrays = {id(p.data): p.data.size for _, mod in model.named_modules()
              for p in vars(mod).values() if isinstance(p, nn.Parameter)}
    assert summary.total == sum(arrays.values())
    assert sum(r.params for r in summary.rows) == summary.total
    assert summary.trainable == summary.total


def test_shared_layer_is_listed_once_and_container_parameters_have_a_row():
    rows = {r.name: r.params for r in Shared().summary((3,)).rows}
    # 3 (scale) + 3*3+3 (inner, used twice) + 3*2+2 (out), worked by hand.
    assert rows == {"Shared": 3, "inner": 12, "out": 8}


def test_conv_net_shapes_and_counts_match_pytorch():
    torch = pytest.importorskip("torch")
    reference = _torch_conv_net().eval()
    x = torch.zeros(1, 3, 16, 12)
    expected_shapes, expected_params = [], []
    with torch.no_grad():
        for layer in reference:
            x = layer(x)
            expected_shapes.append((None, *x.shape[1:]))
            expected_params.append(sum(p.numel() for p in layer.parameters()))
    summary = _conv_net().summary((3, 16, 12))
    assert [r.output_shape for r in summary.rows] == expected_shapes
    assert [r.params for r in summary.rows] == expected_params
    assert summary.total == sum(p.numel() for p in reference.parameters())


def test_summary_leaves_training_flags_statistics_and_gradients_alone():
    model = _conv_net()
    model[7].eval()  # one layer already in evaluation mode must stay so
    flags = [m.training for m in model.modules()]
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.summary((None, 3, 16, 12))  # a leading None stands for the batch
    assert [m.training for m in model.modules()] == flags
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert "forward" not in model[0].__dict__  # the measuring wrapper is gone


def test_non_trainable_parameters_are_counted_apart():
    model = nn.Sequential(nn.Linear(4, 3, rng=0), nn.Linear(3, 1, rng=1))
    model[0].weight.requires_grad = False
    summary = model.summary()
    assert (summary.total, summary.trainable) == (19, 7)  # 4*3+3+3+1; all but 4*3
    assert "Non-trainable params: 12" in str(summary)


@pytest.mark.parametrize("shape", [(), (0, 4), (-1,), (2.5,), "abc", (True,), 3.0])
def test_bad_input_shape_is_refused_clearly(shape):
    with pytest.raises(ShapeError, match=r"input_shape must be one example's sizes"):
        nn.Linear(2, 1).summary(shape)


def test_input_shape_the_model_cannot_take_names_the_layer():
    with pytest.raises(ShapeError, match=r"shape \(1, 1, 16, 12\).*layer 0 \(Conv2d\).*"
                                         r"one example's shape"):
        _conv_net().summary((1, 16, 12))
    with pytest.raises(ShapeError, match=r"layer out \(Linear\)"):
        bad = Shared()
        bad.out = nn.Linear(4, 2)
        bad.summary(3)


def test_text_table_and_html_table():
    model = nn.Sequential(nn.Linear(2, 4, rng=0), nn.Tanh(), nn.Linear(4, 1, rng=1))
    text = str(model.summary((2,)))
    assert text.splitlines()[0] == "Model: Sequential"
    assert "(None, 4)" in text and "Total params: 17" in text
    html = model._repr_html_()
    assert html.startswith("<table") and html.count("<tr>") == 1 + 3 + 3
    assert "Total params: 17" in html and "Output shape" not in html
    # A terminal keeps the nested repr.
    assert repr(model).splitlines()[:2] == ["Sequential(", "  (0): Linear(2, 4)"]
