"""Data sets and preparation.  Works on plain NumPy arrays and needs nothing else of chainrule
(only the error types of :mod:`chainrule.errors`).

- toy sets from a seed: :func:`make_flower` (the seeds' planar set), :func:`make_xor`,
  :func:`make_moons`, :func:`make_circles`, :func:`make_spirals`, :func:`make_blobs`;
- :func:`load_dataset` by name (also scikit-learn's digits, iris, breast_cancer, wine);
- :func:`load_csv` for your own files;
- :func:`train_test_split`, :func:`train_val_test_split`, :class:`StandardScaler`,
  :class:`LabelEncoder`, :func:`one_hot`.
"""

from ..errors import DataError
from .checks import check_features, check_finite
from .csvio import load_csv, write_csv
from .datasets import DATASETS, Dataset, load_dataset
from .labels import LabelEncoder, one_hot
from .scaler import StandardScaler
from .splits import train_test_split, train_val_test_split
from .toy import make_blobs, make_circles, make_flower, make_moons, make_spirals, make_xor

__all__ = [
    "DATASETS",
    "DataError",
    "Dataset",
    "LabelEncoder",
    "StandardScaler",
    "check_features",
    "check_finite",
    "load_csv",
    "load_dataset",
    "make_blobs",
    "make_circles",
    "make_flower",
    "make_moons",
    "make_spirals",
    "make_xor",
    "one_hot",
    "train_test_split",
    "train_val_test_split",
    "write_csv",
]
