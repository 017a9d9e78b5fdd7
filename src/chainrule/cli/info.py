"""``chainrule info``: describe a saved model."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_command
from .output import metrics_line, print_columns
from .report import OK, printable

NAME = "info"

EXAMPLES = """\
examples:
  chainrule info runs/penguins/model.safetensors"""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "describe a saved model",
                    "Architecture, parameter count, preprocessing and training summary of a "
                    "saved model.", EXAMPLES)
    p.add_argument("model", metavar="MODEL")


def run(args: argparse.Namespace) -> int:
    """Describe a saved model."""
    from ..onnx import onnx_inputs  # the exporter's own rule; NumPy-only until a file is written
    from ..predictor import describe

    info = describe(args.model)
    print(f"file:         {printable(info['file'])}  ({info['bytes']:,} bytes, chainrule "
          f"format {info['format_version']}, written by chainrule {info['chainrule_version']})")
    print(f"parameters:   {info['parameters']:,} in {info['tensors']} tensors, dtype "
          f"{info['dtype']}")
    print("architecture: " + info["architecture"].replace("\\n", "\n              "))
    if "task" in info:
        print(f"task:         {info['task']}  (target column {info['target']!r})")
        feats = info["features"]
        shown = ", ".join(feats[:10]) + (f", ... ({len(feats)} in all)" if len(feats) > 10
                                         else "")
        print(f"features:     {shown}")
        if info["classes"]:
            print(f"classes:      {', '.join(info['classes'][:50])}")
        scaling = "standardised (training mean and std)" if info["scaled"] else "none"
        if info["scaled"] and info.get("unscaled_columns"):
            scaling += f"; {info['unscaled_columns']} columns as they are (0/1 columns)"
        if info["target_scaled"]:
            scaling += "; target standardised for training, reported in its own units"
        print(f"scaling:      {scaling}")
        print_columns(info["columns"])
    inputs = [printable(line) for line in onnx_inputs(args.model)]
    print("onnx inputs:  " + "\n              ".join(inputs))
    tr = info.get("training")
    if tr:
        print(f"training:     {tr['data']}: {tr['optimizer']} lr {tr['lr']}, loss "
              f"{tr['loss']}, {tr['epochs_run']}/{tr['epochs']} epochs, batch "
              f"{tr['batch_size'] or 'full'}, seed {tr['seed']}, {tr['seconds']} s")
        for part, metrics in info["results"].items():
            print(f"  {part + ':':<12}{metrics_line(metrics)}")
    if info["other_metadata"]:
        print(f"other metadata: {', '.join(info['other_metadata'])}")
    return OK
