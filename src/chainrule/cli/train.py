"""``chainrule train``: parse the job spec's options, run :func:`chainrule.workflow.train`,
print what it returns.  The options are the fields of :class:`chainrule.job.TrainConfig`
(each declares its own flag), plus ``--json``, which is about printing."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..job import Flag, flags
from .options import add_command, add_flags, job_from
from .output import json_text, metrics_line, print_columns
from .report import DIVERGED, INTERRUPTED, OK, CLIError, need_pandas, printable, rank, warn
from .report import warning_text as as_flags
from .scores import baseline_text, report_lines
from .text import run_text

NAME = "train"

EXAMPLES = """\
examples:
  chainrule train
      the course's 2-4-1 tanh/sigmoid network, full-batch gradient descent (lr 1.2,
      10,000 epochs) on the flower set; writes runs/flower/{model.safetensors,loss.png,
      decision_boundary.png,history.csv}
  chainrule train --data penguins.csv --target species --out runs/penguins
      any CSV table (needs pandas: pip install 'chainrule[csv]'): the delimiter is
      sniffed, numbers, true/false, text categories and dates are typed and shown before
      training; ID-like and free-text columns are dropped with a note
  chainrule train --data penguins.csv --target body_mass_g --drop year
      regression: targets are standardised for training and every number is reported in
      the target's units, beside the baseline of predicting the mean
  chainrule train --data visits.csv --target outcome --categorical ward --class-weight balanced
  chainrule train --dataset digits --layers 64,32 --activation relu --optimizer adam \\
      --lr 1e-3 --epochs 30 --batch-size 32 --val-split 0.2 --test-split 0.1 --seed 0
  chainrule train --dataset digits --epochs 500 --checkpoint runs/digits/ckpt.safetensors
      then, after Ctrl-C or a crash, the same command with --resume continues exactly
  mpiexec -n 4 chainrule train --data big.csv --target y --layers 256,128 --distributed
      data-parallel over MPI (pip install 'chainrule[mpi]'); rank 0 alone prints and writes
  chainrule train --text names.txt --model gru --epochs 10
      a character-level language model (makemore) on a file of words, one per line; then
      chainrule sample runs/names/model.safetensors -n 20 writes new ones

Defaults without --data/--dataset are the course's (flower, --layers 4 --activation tanh
--optimizer sgd --lr 1.2 --batch-size full --epochs 10000 --init normal, no standardisation);
with data they are --layers 64 --activation relu --optimizer adam --batch-size 32 and up to
300 epochs with early stopping (--patience 30) on the validation split, keeping the best
weights; inputs are standardised with statistics of the training split only.
Exit status: 0 done, 1 bad input, 2 bad options, 3 training diverged (nothing saved),
130 interrupted."""

GROUP_NOTES = {"columns of --data": "(--features, --drop and --categorical given again add "
                                    "columns)"}
JSON = Flag(("--json",), "print only one JSON object of metrics per split on stdout",
            group="output", action="store_true", default=False)


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "train a network (no options: the course's flower job)",
                    "Train a multilayer perceptron and save it.", EXAMPLES)
    declared = [(f.name, flag) for f, flag in flags()]
    # --json sits with the output options, before -q, as the help has always listed it
    declared.insert([d for d, _ in declared].index("plots") + 1, ("json", JSON))
    add_flags(p, declared, notes=GROUP_NOTES)


def run(args: argparse.Namespace) -> int:
    """Train, report, plot and save."""
    from ..workflow import train

    if getattr(args, "text", None) is not None:
        return run_text(args)
    cfg = job_from(args, **({"verbose": 0} if args.json else {}))
    if cfg.data is not None:
        need_pandas("chainrule train --data")
    chief = not cfg.distributed or rank() == 0
    quiet_report = cfg.verbose == 0 or not chief

    def ready(summary: dict[str, Any], columns: list[dict[str, Any]],
              notes: list[str | Warning]) -> None:
        if quiet_report:
            for note in notes:
                if chief:
                    warn(as_flags(note))
            return
        _print_ready(summary, columns, [as_flags(note) for note in notes])

    result = train(cfg, stream=sys.stdout, on_ready=ready)
    for note in result.notes:
        if chief:
            warn(as_flags(note))
    if result.diverged:  # the guard stops every rank at the same step: all raise this
        from ..distributed import AGREED

        err = CLIError(result.diverged, as_flags(result.hint), code=DIVERGED)
        setattr(err, AGREED, True)
        raise err
    status = INTERRUPTED if result.interrupted else OK
    if result.interrupted and cfg.checkpoint and chief:
        sys.stderr.write(f"chainrule: interrupted; checkpoint saved to "
                         f"{printable(cfg.checkpoint)}; "
                         "run the same command with --resume to continue\n")
    if not chief:
        return status
    if args.json:
        # the per-class numbers sit beside the splits, so each split stays flat numbers
        detail = {"class_report": {part: r.per_class() for part, r in result.reports.items()}}
        print(json_text({**result.metrics, **(detail if result.reports else {})}))
        return status
    for part, metrics in result.metrics.items():
        line = metrics_line(metrics)
        if part in result.baseline:
            base = result.baseline[part]
            line += f"   (predicting the mean: RMSE {base['rmse']:.4g}, R^2 {base['r2']:.4f})"
        if part in result.reports:
            line += f"   {baseline_text(result.reports[part])}"
        print(f"{part + ':':<12}{line}")
    _print_reports(result.reports)
    if result.model_choice:
        print(f"{'kept:':<12}{result.model_choice}")
    print(f"saved:      {printable(result.path)}")
    if result.plots:
        print("plots:      " + ", ".join(map(printable, result.plots)))
    elif cfg.plots:
        from .. import plots

        if not plots.have_matplotlib():
            print("plots:      skipped (matplotlib is not installed; pip install matplotlib)")
    return status


def _print_reports(reports: dict[str, Any]) -> None:
    """The held-out splits' class reports (the training split's when none is held out)."""
    shown = [p for p in ("validation", "test") if p in reports] or list(reports)[:1]
    for part in shown:
        lines = report_lines(reports[part])
        print(f"{part + ':':<12}{lines[0]}")
        for line in lines[1:]:
            print(f"{'':<12}{line}")


def _print_ready(summary: dict[str, Any], columns: list[dict[str, Any]], notes: list[str]
                 ) -> None:
    classes = f" ({summary['classes']} classes)" if summary["task"] == "classification" else ""
    tr, va, te = summary["split"]
    print(f"data:       {printable(summary['data'])}: {summary['rows']} rows, "
          f"{summary['features']} features, {summary['task']}{classes}; split {tr}/{va}/{te} "
          "(train/val/test)")
    for note in notes:
        print(f"note:       {printable(note)}")
    print_columns(columns)
    arch = "-".join(str(s) for s in summary["architecture"])
    out = f"/{summary['output']}" if summary["output"] != "identity" else ""
    lr = f" lr {summary['lr']:g}" if summary["lr"] is not None else ""
    batch = "full" if summary["batch_size"] is None else summary["batch_size"]
    stop = f", early stopping (patience {summary['patience']})" if summary["patience"] else ""
    print(f"model:      {arch} {summary['activation']}{out}, loss {summary['loss']}, optimizer "
          f"{summary['optimizer']}{lr}, batch {batch}, {summary['epochs']} epochs{stop}")
    if summary.get("resumed_at") is not None:
        print(f"resuming:   after {summary['resumed_at']} of {summary['epochs']} epochs")
