"""Data sets and preparation.  Works on plain NumPy arrays and needs nothing else of chainrule
(only the shared error types of :mod:`chainrule.engine.errors`)."""

from .preprocessing import (
    DataError,
    LabelEncoder,
    StandardScaler,
    check_features,
    check_finite,
    one_hot,
    train_test_split,
    train_val_test_split,
)
from .toy import make_flower

__all__ = [
    "DataError",
    "LabelEncoder",
    "StandardScaler",
    "check_features",
    "check_finite",
    "make_flower",
    "one_hot",
    "train_test_split",
    "train_val_test_split",
]
