"""Run under mpiexec by test_shares_cases_mpi.py: ``chainrule.workflow.train`` on a pandas
DataFrame built in memory with ``distributed=True``; rank 0 writes the metrics and notes to
OUT/result.json beside the model.

usage: mpi_shares_cases_api.py OUT
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from chainrule.distributed import run
from chainrule.workflow import TrainConfig, TrainResult, train


def frame() -> pd.DataFrame:
    """Columns that type differently in different ranks' rows: a code that is a number except
    once near the end, numbers missing in every early row, true/false with a gap, a category
    seen only in the last rows, dates, and a missing target."""
    rng = np.random.default_rng(0)
    n = 90
    a, b = rng.normal(size=n), rng.normal(size=n)
    df = pd.DataFrame({
        "a": a, "b": b,
        "code": [str(i % 3) if i != 80 else "x9" for i in range(n)],
        "gap": [np.nan if i < 35 else float(i % 4) for i in range(n)],
        "flag": [None if i == 70 else bool(i % 2) for i in range(n)],
        "colour": pd.Categorical(["violet" if i > 85 else ["red", "blue"][i % 2]
                                  for i in range(n)]),
        "when": pd.date_range("2021-01-01", periods=n, freq="D"),
        "y": ["yes" if a[i] + b[i] > 0 else "no" for i in range(n)],
    })
    df.loc[5, "y"] = None
    return df


def train_frame(out: str, distributed: bool) -> TrainResult:
    return train(TrainConfig(data=frame(), target="y", batch_size=None, epochs=20, layers=[4],
                             val_split=0.0, test_split=0.2, plots=False, out=out,
                             distributed=distributed))


def main() -> None:
    out = sys.argv[1]
    result = train_frame(out, True)
    if result.path:
        (Path(out) / "result.json").write_text(json.dumps({"metrics": result.metrics,
                                                           "notes": result.notes}))


if __name__ == "__main__":
    run(main)
