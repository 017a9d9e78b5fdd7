"""Compare chainrule.sklearn.MLPClassifier with scikit-learn's own MLPClassifier.

Same architecture and training settings on both sides (one hidden layer of 100 ReLU units,
Adam with learning rate 1e-3, batches of 200, alpha 1e-4, at most 200 epochs, stopping when the
training loss stalls for 10 epochs), inputs standardised inside a Pipeline, scored by 5-fold
stratified cross-validation on scikit-learn's digits, iris, breast cancer and wine sets.

    python examples/compare_sklearn.py            # prints a Markdown table
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

try:
    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.neural_network import MLPClassifier as SkMLP
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError:  # the environment of the README's first command has no scikit-learn
    raise SystemExit("this example uses scikit-learn: pip install 'chainrule[sklearn]'") from None

from chainrule.sklearn import MLPClassifier as CrMLP

DATASETS = {
    "digits": datasets.load_digits,
    "iris": datasets.load_iris,
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--max-iter", type=int, default=200)
    args = ap.parse_args()
    settings = dict(hidden_layer_sizes=(args.hidden,), activation="relu", solver="adam",
                    alpha=1e-4, batch_size="auto", learning_rate_init=1e-3,
                    max_iter=args.max_iter, tol=1e-4, n_iter_no_change=10, random_state=0)
    cv = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    print(f"{args.folds}-fold CV, MLP {args.hidden} ReLU, Adam lr 1e-3, batch 200, "
          f"max_iter {args.max_iter}\n")
    print("| data set | n x d | scikit-learn accuracy | chainrule accuracy | "
          "sklearn fit s/fold | chainrule fit s/fold | time ratio (chainrule/sklearn) |")
    print("|---|---|---|---|---|---|---|")
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        row = []
        for cls in (SkMLP, CrMLP):
            pipe = make_pipeline(StandardScaler(), cls(**settings))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                res = cross_validate(pipe, X, y, cv=cv, n_jobs=1)
                _ = time.perf_counter() - start
            row.append((res["test_score"].mean(), res["test_score"].std(),
                        float(np.mean(res["fit_time"]))))
        (sa, ss, st), (ca, cs, ct) = row
        print(f"| {name} | {X.shape[0]} x {X.shape[1]} | {sa:.4f} ± {ss:.4f} | "
              f"{ca:.4f} ± {cs:.4f} | {st:.2f} | {ct:.2f} | {ct / st:.2f} |", flush=True)


if __name__ == "__main__":
    main()
