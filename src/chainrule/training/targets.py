"""Targets made ready for a loss: shapes, dtypes and ranges checked per loss, sample weights,
and the optional standardisation of regression targets.

Every check here names the array (``y``, ``val_y``), what it holds and what the loss needs,
so a mistake in the data is answered before the first step rather than by NumPy deep inside a
loss.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..data.checks import as_array, check_features, check_finite
from ..data.combine import mean_std, square_safe_unit
from ..engine import Tensor, devices
from ..engine.backend import dtype_name
from ..engine.devices import to_device
from ..errors import ConfigError, DataError, ShapeError
from .metrics import check_sample_weight
from .tasks import as_rows, last_layer, output_width

__all__ = ["TargetScaler", "check_classes", "check_input_shape", "model_dtype", "prepare",
           "square_safe_unit", "stratify_labels", "weighted_loss", "weights_for"]

Array = np.ndarray
BINARY_LOSSES = (nn.BCELoss, nn.BCEWithLogitsLoss)


def model_dtype(model: nn.Module) -> np.dtype:
    """The floating dtype of the model's parameters (float32 when it has none), as NumPy's:
    the data is prepared on the host whatever device the model is on."""
    params = model.parameters()
    return np.dtype(dtype_name(params[0].data.dtype)) if params else np.dtype(np.float32)


def check_classes(y: Any, name: str = "y") -> None:
    """Raise :class:`DataError` when class labels ``y`` hold a single class: a classifier
    trained on it learns nothing about telling classes apart."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot or probability rows
        labels = y.argmax(axis=1)
    else:
        labels = as_rows(y)[:, 0] if y.ndim else y
    if labels.size and np.all(labels == labels.flat[0]):
        raise DataError(f"{name} holds a single class ({labels.flat[0].item()!r} in all "
                        f"{len(labels)} examples); a classifier needs examples of at least "
                        "two classes")


def takes_indices(model: nn.Module) -> bool:
    """Whether ``model`` reads integer indices: its first layer (in the order its layers were
    set) is an Embedding, as in a network over token sequences."""
    first = next((m for m in model.modules() if next(m.children(), None) is None), None)
    return isinstance(first, nn.Embedding)


def _indices(X: Any, label: str) -> Array:
    a = as_array(X, label)
    if a.dtype.kind not in "iu":
        raise DataError(f"{label} must hold integer token indices for a model that starts "
                        f"with an Embedding, got dtype {a.dtype}; convert with "
                        f"X.astype('int64') if the values are whole numbers")
    if a.ndim < 1 or a.shape[0] == 0:
        raise DataError(f"{label} must have examples on axis 0, got shape {a.shape}")
    return a.astype(np.int64, copy=False)


def _features(X: Any, name: str, dtype: np.dtype, allow_empty: bool,
              indices: bool = False) -> Array:
    label = f"{name}X" if name else "X"
    if indices:  # token sequences stay integers: the Embedding looks them up
        return _indices(X, label)
    if allow_empty:
        a = as_array(X, label)
        if a.ndim >= 2 and a.shape[0] == 0 and a.dtype.kind in "biuf":
            return a.astype(dtype)
    X = check_features(X, label, nd=True)
    cast = X.astype(dtype, copy=False)
    if cast is not X:  # values beyond float32's range become inf in the cast: say so
        check_finite(cast, f"{label} (after conversion to {dtype})")
    return cast


def _first_layer(model: nn.Module) -> nn.Module:
    while isinstance(model, nn.Sequential) and len(model):
        model = next(iter(model))
    return model


def check_input_shape(model: nn.Module, X: Array, label: str = "X") -> None:
    """Raise :class:`DataError` when examples of ``X``'s shape cannot go through ``model``,
    naming both shapes, before any training step.

    Only a Sequential of chainrule's own layers is checked (from each layer's
    ``output_shape``): a custom module may reshape in ways its ``output_shape`` does not
    describe.  Rows into a first Linear layer are left to the layer itself, whose error at the
    first step already names both widths.
    """
    first = _first_layer(model)
    if isinstance(first, nn.Linear):
        if X.ndim > 2:
            raise DataError(f"{label} must be 2-D with examples as rows, got shape {X.shape}: "
                            f"the model starts with {first!r}, which takes rows of "
                            f"{first.in_features} features; for images start it with "
                            "nn.Flatten() or a convolution")
        return
    if not isinstance(model, nn.Sequential) or not all(
            type(m).__module__.startswith("chainrule.nn") for m in model.modules()):
        return
    example = tuple(int(d) for d in X.shape[1:])
    try:
        model.output_shape((None, *example))
    except ShapeError as err:
        channels = getattr(first, "in_channels", None)
        takes = f" but the model takes examples of shape ({channels}, H, W)" \
            if isinstance(channels, int) else " that the model cannot take"
        raise DataError(f"{label} has examples of shape {example}{takes}: {err}") from None


def _class_labels(y: Array, name: str, model: nn.Module) -> Array:
    if y.ndim == 2 and y.shape[1] == 1 and y.dtype.kind in "iub":
        y = y[:, 0]
    if y.ndim == 1 and y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{name}y holds non-integer values but cross-entropy needs "
                            "integer class labels 0..C-1")
        y = y.astype(np.int64)
    if y.ndim == 1 and y.size and y.min() < 0:
        raise DataError(f"{name}y holds the negative class label {y.min()}; labels must be "
                        "0..C-1")
    width = output_width(model)
    if y.ndim == 1 and y.size and width is not None and y.max() >= width:
        row = int(np.argmax(y >= width))
        raise DataError(f"{name}y holds the class label {y[row]} (row {row}) but the model "
                        f"has {width} outputs, so labels must be 0..{width - 1}; give the last "
                        "layer one output per class")
    return y


def _value_targets(y: Array, name: str, model: nn.Module, loss_fn: Any, loss_spec: Any,
                   dtype: np.dtype) -> Array:
    width = output_width(model)
    cols = y.shape[1] if y.ndim == 2 else 1
    if width is not None and y.ndim <= 2 and cols != width:
        hint = ""
        if y.ndim == 1 and loss_spec == "auto" and y.dtype.kind == "f":
            hint = ("; for class labels pass integers (y.astype(int)) or "
                    "loss='cross_entropy', for regression give the model one output")
        raise DataError(f"{name}y has {cols} value(s) per example but the model has {width} "
                        f"outputs ({type(loss_fn).__name__} compares them one to one){hint}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    return y.astype(dtype, copy=False)


def prepare(X: Any, y: Any, *, model: nn.Module, loss_fn: Any, loss_spec: Any = "auto",
            name: str = "", allow_empty: bool = False) -> tuple[Array, Array]:
    """``(X, y)`` checked and shaped for ``loss_fn``: X in the model's dtype, integer labels
    for cross-entropy, one column per output for MSE and binary cross-entropy.

    ``X`` has examples on axis 0: rows (n, features) or, for a network that starts with a
    convolution (or another layer taking more axes), shape (n, ...) such as images
    (n, channels, height, width); whether they fit the model is checked first.  pandas
    DataFrames (numeric columns) and Series are taken as their values.

    ``name`` prefixes the arrays in messages (``"val_"``); ``allow_empty`` accepts zero rows
    (a rank of an MPI job whose share of a split is empty still takes part).
    """
    X = _features(X, name, model_dtype(model), allow_empty, takes_indices(model))
    check_input_shape(model, X, f"{name}X" if name else "X")
    y = as_array(y, f"{name}y")
    if y.ndim == 0 or len(y) != len(X):
        raise DataError(f"{name}X has {len(X)} examples but {name}y has "
                        f"{'no length' if y.ndim == 0 else len(y)}")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{name}y must hold numbers (encode string labels first, e.g. with "
                        f"chainrule.data.LabelEncoder), got dtype {y.dtype}")
    if isinstance(loss_fn, nn.CrossEntropyLoss):
        y = _class_labels(y, name, model)
    elif isinstance(loss_fn, (nn.MSELoss, *BINARY_LOSSES)):
        y = _value_targets(y, name, model, loss_fn, loss_spec, X.dtype)
    if y.dtype.kind == "f" and y.size:
        check_finite(y, f"{name}y")
    if isinstance(loss_fn, BINARY_LOSSES) and y.size and (y.min() < 0 or y.max() > 1):
        raise DataError(f"{name}y must hold 0/1 labels (or probabilities) for binary "
                        f"cross-entropy, got values from {y.min()} to {y.max()}")
    return X, y


def stratify_labels(y: Array, loss_fn: Any, stratify: bool | None) -> Array | None:
    """Class labels to stratify a validation split by (None: do not stratify).

    ``stratify=None`` decides from the loss; True takes labels from ``y`` (integer labels,
    one 0/1 column, or one-hot rows) whatever the loss.
    """
    if stratify is False:
        return None
    if stratify:
        return y if y.ndim == 1 else (y[:, 0] if y.shape[1] == 1 else y.argmax(axis=1))
    if isinstance(loss_fn, nn.CrossEntropyLoss) and y.ndim == 1:
        return y
    if isinstance(loss_fn, (*BINARY_LOSSES, nn.CrossEntropyLoss)) and y.ndim == 2 \
            and y.shape[1] == 1:
        return y[:, 0]
    return None


# -- sample weights ------------------------------------------------------------------------------
def _weighable(loss_fn: Any) -> bool:
    """Whether ``loss_fn`` is one of the built-in losses (their table, not a subclass whose
    forward may differ) that can weigh examples."""
    cls = type(loss_fn)
    return isinstance(loss_fn, nn.losses.Loss) and nn.losses.LOSSES.get(cls.name) is cls \
        and cls.accepts_sample_weight


def weights_for(sample_weight: Any, n: int, loss_fn: Any, name: str = "") -> Array | None:
    """Checked per-example weights (None when none were given); ConfigError for a loss that
    cannot weigh examples."""
    if sample_weight is None:
        return None
    if not _weighable(loss_fn):
        raise ConfigError(f"fit: {name}sample_weight needs one of the built-in losses (mse, "
                          f"bce, bce_with_logits, cross_entropy), not "
                          f"{getattr(loss_fn, '__name__', type(loss_fn).__name__)}")
    return check_sample_weight(sample_weight, n, f"{name}sample_weight")


def weighted_loss(loss_fn: Any, out: Tensor, y: Array, w: Array) -> Tensor:
    """The weighted mean loss sum(w_i l_i) / sum(w_i) over the rows of a batch (l_i is the
    mean over an example's outputs), from the loss's own functional form."""
    fn: Callable[..., Tensor] = type(loss_fn).function
    if "sample_weight" in inspect.signature(fn).parameters:
        return fn(out, y, sample_weight=w)
    per = fn(out, y, reduction="none")
    if per.ndim > 1:
        per = per.mean(axis=tuple(range(1, per.ndim)))
    weights = to_device(w.astype(dtype_name(out.data.dtype)), out.device)
    return (per * Tensor(weights, device=out.device)).sum() * (1.0 / float(w.sum()))


# -- standardised regression targets ---------------------------------------------------------------
@dataclass
class TargetScaler:
    """Standardise regression targets for training, then fold the inverse into the last
    Linear layer so the trained model predicts in the target's own units.

    ``mean`` and ``scale`` hold one value per output column (a constant column gets scale 1).
    """

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, y: Array, total: Callable[[Array], Array] = lambda a: a) -> TargetScaler:
        """From training targets ``y`` (N, k); ``total`` sums arrays over every MPI rank, so
        all ranks get the exact statistics of all rows."""
        mean, scale, _ = mean_std(y, total)  # any finite magnitude (see data.combine)
        return cls(mean, np.where(scale > 0, scale, 1.0))

    def transform(self, y: Array) -> Array:
        """Targets in standard units."""
        return ((y - self.mean) / self.scale).astype(y.dtype, copy=False)

    def inverse(self, out: Array) -> Array:
        """Outputs in the target's units."""
        return out * self.scale + self.mean

    @staticmethod
    def check_model(model: nn.Module, loss_fn: Any) -> nn.Linear:
        """The last Linear layer the inverse is folded into; ConfigError when there is none."""
        if not isinstance(loss_fn, nn.MSELoss):
            raise ConfigError("fit: standardize_target=True is for regression with the mse "
                              f"loss, not {type(loss_fn).__name__}")
        last = last_layer(model)
        if not isinstance(last, nn.Linear) or last.bias is None:
            raise ConfigError("fit: standardize_target=True needs a model whose last layer is "
                              "a Linear with a bias (the un-standardisation is folded into "
                              f"it), got {type(last).__name__}")
        return last

    def _beside(self, layer: nn.Linear) -> tuple[Any, Any]:
        """The scale and mean in the layer's dtype, on its device."""
        w = layer.weight.data
        dtype, where = dtype_name(w.dtype), devices.device_of(w)
        return (to_device(self.scale.astype(dtype), where),
                to_device(self.mean.astype(dtype), where))

    def fold(self, layer: nn.Linear) -> None:
        """Make ``layer`` output target units: W <- s W, b <- s b + m."""
        s, m = self._beside(layer)
        layer.weight.data[...] = layer.weight.data * s[:, None]
        layer.bias.data[...] = layer.bias.data * s + m

    def unfold(self, layer: nn.Linear) -> None:
        """Undo :meth:`fold` (to continue training in standard units)."""
        s, m = self._beside(layer)
        layer.bias.data[...] = (layer.bias.data - m) / s
        layer.weight.data[...] = layer.weight.data / s[:, None]

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready (for checkpoints)."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetScaler:
        """Rebuild from :meth:`to_dict`."""
        return cls(np.asarray(d["mean"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64))
