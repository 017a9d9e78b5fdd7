"""Data sets and preparation.  Works on plain NumPy arrays and needs nothing else of chainrule."""

from .toy import make_flower

__all__ = ["make_flower"]
