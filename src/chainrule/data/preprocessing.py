"""Preparing arrays for training, by the names users import from here: the input checks
(:mod:`chainrule.data.checks`), the splits (:mod:`chainrule.data.splits`), standardisation
(:mod:`chainrule.data.scaler`) and label and one-hot encoding (:mod:`chainrule.data.labels`).

Everything here works on plain NumPy arrays.  The fitted objects (:class:`StandardScaler`,
:class:`LabelEncoder`) turn into plain JSON-ready dictionaries with ``to_dict`` and back with
``from_dict``, so a saved model can carry its preprocessing without pickle.
"""

from __future__ import annotations

from ..errors import DataError
from .checks import as_array, check_features, check_finite, check_numeric_frame, frame_to_array
from .labels import LabelEncoder, one_hot, sorted_labels
from .scaler import StandardScaler
from .splits import train_test_split, train_val_test_split

__all__ = [
    "DataError",
    "LabelEncoder",
    "StandardScaler",
    "as_array",
    "check_features",
    "check_finite",
    "check_numeric_frame",
    "frame_to_array",
    "one_hot",
    "sorted_labels",
    "train_test_split",
    "train_val_test_split",
]
