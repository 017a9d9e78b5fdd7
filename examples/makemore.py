"""The makemore progression (Karpathy's character-level language models) on census first
names: count pairs of letters, learn the same table by gradient descent, then an MLP over the
last three letters, a GRU and a small transformer, each printing its validation loss (mean
negative log-likelihood per character, in nats; a uniform guess over 27 tokens scores 3.30)
and a few names it makes up.

    pip install names                       # the census name lists (about 5,100 first names)
    python examples/makemore.py             # about a minute on a laptop CPU
    python examples/makemore.py --words names.txt --epochs 30   # any file, one word a line

The same from the command line: ``chainrule train --text names.txt --model gru`` then
``chainrule sample runs/names/model.safetensors -n 20``.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from chainrule.errors import DataError
from chainrule.text import LanguageModel, TextConfig, read_words, split_words, train
from chainrule.text import census_first_names as census_first_names_of_package

PROGRESSION = [  # kind, epochs (scaled by --epochs), what it is
    ("bigram", 10, "the same table, learned by gradient descent"),
    ("mlp", 10, "Bengio 2003: vectors of the last 3 letters, a tanh hidden layer"),
    ("gru", 8, "a gated recurrent network over the whole name"),
    ("transformer", 10, "two causal self-attention layers (a tiny GPT)"),
]


def census_first_names() -> list[str]:
    """Every distinct first name of the census lists in the ``names`` package, lower case."""
    try:
        return census_first_names_of_package()
    except DataError as err:
        raise SystemExit(f"{err} (or pass --words FILE, one word per line)") from None


def counted_bigram(train_words: list[str], val_words: list[str], lm: LanguageModel
                   ) -> float:
    """The bigram model by counting pairs (plus one, so no pair is impossible): its loss on
    the validation words."""
    v = lm.vocab.size
    counts = np.ones((v, v))
    for word in train_words:
        tokens = [0, *lm.vocab.encode(word), 0]
        np.add.at(counts, (tokens[:-1], tokens[1:]), 1)
    log_p = np.log(counts / counts.sum(axis=1, keepdims=True))
    total = n = 0
    for word in val_words:
        tokens = [0, *lm.vocab.encode(word), 0]
        total -= log_p[tokens[:-1], tokens[1:]].sum()
        n += len(tokens) - 1
    return float(total / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", help="a text file of words, one per line (default: the "
                                        "census first names of the names package)")
    parser.add_argument("--epochs", type=float, default=1.0,
                        help="scale every model's epochs by this (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = args.words
        if path is None:
            path = os.path.join(folder, "names.txt")
            Path(path).write_text("\n".join(census_first_names()) + "\n", encoding="utf-8")
        words = read_words(path)
        train_words, val_words = split_words(words, 0.1, args.seed)
        lm = LanguageModel.new(words, "bigram")
        print(f"{len(words)} words, {lm.vocab.size} tokens; {len(train_words)} to train on, "
              f"{len(val_words)} held out; a uniform guess scores "
              f"{math.log(lm.vocab.size):.4f}\n")
        print(f"{'counts':<12} {counted_bigram(train_words, val_words, lm):.4f}  "
              "the bigram table by counting pairs of letters (plus one)")
        for kind, epochs, what in PROGRESSION:
            start = time.perf_counter()
            epochs = max(1, round(epochs * args.epochs))
            result = train(TextConfig(path, model=kind, epochs=epochs, seed=args.seed,
                                      out=os.path.join(folder, kind), plots=False))
            loss = result.metrics["validation"]["loss"]
            print(f"{kind:<12} {loss:.4f}  {what} ({result.summary['parameters']:,} "
                  f"parameters, {time.perf_counter() - start:.0f} s)")
            print(f"{'':<12}        {', '.join(result.model.sample(8, seed=args.seed))}")


if __name__ == "__main__":
    main()
