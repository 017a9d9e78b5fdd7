"""Measure ``chainrule train`` defaults against a scikit-learn pipeline on real CSV files.

Not a test (pytest does not collect it): a measurement behind the table in docs/tabular.md.
Each file ships with a PyPI package (pip install palmerpenguins statsmodels vega_datasets
scikit-learn pandas pyarrow), found through importlib.resources.  Both sides see the same rows,
the same columns (those chainrule kept) and the same train/validation/test split (60/20/20,
seed 0); the numbers are on the test split.  The scikit-learn side is median imputation with
missing indicators + one-hot encoding (a "missing" category, unknown categories ignored) +
standard scaling + LogisticRegression (classification) or Ridge (regression), default
settings; chainrule runs with its defaults only.

    python tests/e2e/compare_with_sklearn.py            # prints a Markdown table
"""

from __future__ import annotations

import importlib.resources
import sys
import time
from pathlib import Path

FILES = [
    ("palmerpenguins", "data/penguins.csv", "species"),
    ("palmerpenguins", "data/penguins.csv", "body_mass_g"),
    ("palmerpenguins", "data/penguins-raw.csv", "Sex"),
    ("palmerpenguins", "data/penguins-raw.csv", "Body Mass (g)"),
    ("vega_datasets", "_data/seattle-weather.csv", "weather"),
    ("statsmodels.datasets", "anes96/anes96.csv", "'vote'"),
    ("statsmodels.datasets", "modechoice/modechoice.csv", "choice"),
    ("statsmodels.datasets", "star98/star98.csv", "MATHTOT"),
    ("statsmodels.datasets", "grunfeld/grunfeld.csv", "invest"),
    ("statsmodels.datasets", "fair/fair.csv", "affairs"),
]


def locate(package: str, path: str) -> Path:
    return Path(str(importlib.resources.files(package).joinpath(path)))


def sklearn_score(result: object, frame: object, target: str) -> float:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from chainrule.data.columns import prepare_target

    t = prepare_target(frame, target, result.task)
    frame = frame[t.keep].reset_index(drop=True)
    numeric, categorical, table = [], [], pd.DataFrame(index=frame.index)
    for c in result.columns:
        name, kind = c["column"], c["kind"]
        if kind in ("numeric", "boolean"):
            col = frame[name]
            if kind == "boolean" and col.dtype.kind != "b":
                col = col.astype(str).str.strip().str.lower().map(
                    {"yes": 1.0, "true": 1.0, "y": 1.0, "t": 1.0, "no": 0.0, "false": 0.0,
                     "n": 0.0, "f": 0.0})
            table[name] = pd.to_numeric(col, errors="coerce").astype(float)
            numeric.append(name)
        elif kind == "datetime":
            d = pd.to_datetime(frame[name], errors="coerce", format="mixed")
            for part in ("year", "month", "day", "day_of_week"):
                table[f"{name}.{part}"] = getattr(d.dt, part).astype(float)
                numeric.append(f"{name}.{part}")
        elif kind == "categorical":
            table[name] = frame[name].astype(object).where(frame[name].notna(), "missing") \
                .astype(str)
            categorical.append(name)
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                              StandardScaler()), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    model = LogisticRegression(max_iter=5000) if result.task == "classification" else Ridge()
    pipe = make_pipeline(prep, model)
    tr, te = result.rows["train"], result.rows["test"]
    pipe.fit(table.iloc[tr], t.y[tr])
    pred = pipe.predict(table.iloc[te])
    if result.task == "classification":
        return accuracy_score(t.y[te], pred)
    return r2_score(t.y[te], pred)


def main() -> int:
    from chainrule.data.tabular import read_frame
    from chainrule.workflow import TrainConfig, train

    print("| file | target | task | rows | chainrule | scikit-learn | difference | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for package, path, target in FILES:
        file = locate(package, path)
        frame = read_frame(file)
        start = time.perf_counter()
        result = train(TrainConfig(data=file, target=target, val_split=0.2, test_split=0.2,
                                   plots=False, out="/tmp/chainrule-compare"))
        seconds = time.perf_counter() - start
        test = result.metrics["test"]
        ours = test["accuracy"] if result.task == "classification" else test["r2"]
        theirs = sklearn_score(result, frame, target)
        diff = ours - theirs
        unit = "accuracy" if result.task == "classification" else "R^2"
        shown = (lambda v: f"{v:.1%}") if result.task == "classification" else \
            (lambda v: f"{v:.3f}")
        gap = f"{diff * 100:+.1f} points" if result.task == "classification" else f"{diff:+.3f}"
        limit = 0.02 if result.task == "classification" else 0.05
        worst = max(worst, -diff / limit)
        print(f"| {package}: {path.split('/')[-1]} | {target} | {result.task} ({unit}) | "
              f"{sum(len(r) for r in result.rows.values())} | {shown(ours)} | "
              f"{shown(theirs)} | {gap} | {seconds:.1f} |")
    print(f"\nworst shortfall as a fraction of the allowed gap: {worst:.2f} "
          "(<= 1 meets the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
