"""How results are printed: metrics as a line or as strict JSON, a table's columns."""

from __future__ import annotations

import json
import math
from typing import Any

from .report import printable

__all__ = ["json_text", "metrics_line", "print_columns"]


def json_text(metrics: dict[str, Any]) -> str:
    """``metrics`` as strict JSON: a number beyond float64 (an MSE of targets near 1e300 is
    inf) or undefined (NaN) is null, which every JSON reader takes, not Infinity or NaN.

    >>> json_text({"train": {"mse": float("inf"), "n": 3}})
    '{"train": {"mse": null, "n": 3}}'
    """
    def strict(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return json.dumps(strict(metrics), allow_nan=False)


def metrics_line(metrics: dict[str, Any]) -> str:
    """One split's metrics on one line.

    >>> metrics_line({"mse": 0.25, "rmse": 0.5, "r2": 0.9})
    'MSE 0.25  RMSE 0.5  R^2 0.9000'
    """
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.1%}  (log loss {metrics['log_loss']:.4f})"
    parts = []
    for key, label in (("mse", "MSE"), ("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R^2"),
                       ("loss", "loss"), ("accuracy", "accuracy")):
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{label} {metrics[key]:.4g}" if key != "r2" else
                         f"{label} {metrics[key]:.4f}")
    return "  ".join(parts)


def print_columns(columns: list[dict[str, Any]]) -> None:
    """The columns of a table as they were typed and used."""
    if not columns:
        return
    width = min(28, max(len(printable(c["column"])) for c in columns))
    print("columns:")
    for c in columns:
        name = printable(c["column"])
        name = name if len(name) <= width else name[:width - 3] + "..."
        why = f"  ({printable(c['reason'])})" if c["kind"] == "dropped" else ""
        print(f"  {name:<{width}}  {c['kind']:<12} {c['used_as']}{why}")
