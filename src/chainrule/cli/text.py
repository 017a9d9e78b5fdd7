"""``chainrule train --text FILE``: the options that apply to a character-level language model
turned into a :class:`chainrule.text.TextConfig`, :func:`chainrule.text.train`, and what it
returns printed as ``chainrule train`` prints a run."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import Any

from ..job import TrainConfig, flag_of
from .output import json_text
from .report import DIVERGED, OK, CLIError, printable, warn

__all__ = ["APPLIES", "run_text"]

APPLIES = ("text", "model", "embed", "hidden", "layers", "block_size", "heads", "epochs",
           "lr", "batch_size", "val_split", "seed", "device", "out", "plots", "verbose")
"""The train options a language model takes; the others (a target, a loss...) are
refused with --text."""


def run_text(args: argparse.Namespace) -> int:
    """Train a character-level language model from the parsed train options ``args``."""
    from ..text import TextConfig, train

    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
             if hasattr(args, f.name)}
    stray = sorted(flag_of(name).name for name in given if name not in APPLIES)
    if stray:
        raise CLIError(f"{', '.join(stray)} {'does' if len(stray) == 1 else 'do'} not apply "
                       "to --text (a character-level language model)",
                       "see 'chainrule train --help': the language model options, --epochs, "
                       "--lr, --batch-size, --val-split, --seed, --device, --out")
    layers = given.pop("layers", None)
    if layers is not None:
        if len(layers) != 1:
            raise CLIError(f"--layers {','.join(map(str, layers))}: with --text, --layers is "
                           "one number, how many recurrent or transformer layers to stack",
                           "e.g. --layers 2")
        given["layers"] = layers[0]
    cfg = TextConfig(**{**given, **({"verbose": 0} if args.json else {})})

    def ready(summary: dict[str, Any]) -> None:
        if not args.json and cfg.verbose:
            _print_ready(summary)

    result = train(cfg, stream=sys.stdout, on_ready=ready)
    if result.diverged:
        raise CLIError(result.diverged, "pass a smaller --lr", code=DIVERGED)
    if args.json:
        print(json_text(result.metrics))
        return OK
    for part, metrics in result.metrics.items():
        print(f"{part + ':':<12}loss {metrics['loss']:.4f}  (perplexity "
              f"{metrics['perplexity']:.2f}; a uniform guess: loss {result.baseline:.4f})")
    print(f"saved:      {printable(result.path)}")
    if result.plots:
        print("plots:      " + ", ".join(map(printable, result.plots)))
    elif cfg.plots:
        warn("plots skipped: matplotlib is not installed (pip install matplotlib)")
    print(f"next:       chainrule sample {printable(result.path)} -n 20")
    return OK


def _print_ready(summary: dict[str, Any]) -> None:
    print(f"data:       {printable(summary['text'])}: {summary['words']} words, "
          f"{summary['vocab_size']} tokens (the characters and the boundary '.'); split "
          f"{summary['train_words']}/{summary['val_words']} (train/val)")
    sizes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary["sizes"].items())
    batch = "full" if summary["batch_size"] is None else summary["batch_size"]
    print(f"model:      {summary['model']}{f' ({sizes})' if sizes else ''}, "
          f"{summary['parameters']:,} parameters; loss cross_entropy, optimizer adam lr "
          f"{summary['lr']:g}, batch {batch}, {summary['epochs']} epochs")
