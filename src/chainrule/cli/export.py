"""``chainrule export``: write a saved model, with its preprocessing, as ONNX."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_command
from .report import OK, CLIError, printable

NAME = "export"

EXAMPLES = """\
examples:
  chainrule export runs/penguins/model.safetensors --out model.onnx"""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "export a saved model to ONNX", "Write a saved model as ONNX.",
                    EXAMPLES)
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="where to write")


def run(args: argparse.Namespace) -> int:
    """Write a saved model as ONNX (needs chainrule.onnx and the onnx package)."""
    from ..onnx import export_model_file  # NumPy-only until it writes the file
    from ..runs import refuse_overwrite

    refuse_overwrite("--out", args.out, {"the MODEL file": args.model})
    try:
        export_model_file(args.model, args.out)  # with the model's preprocessing
    except ImportError:
        raise CLIError("ONNX export needs the onnx package",
                       "pip install 'chainrule[onnx]'") from None
    print(f"wrote {printable(args.out)}")
    return OK
