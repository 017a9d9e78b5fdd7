"""How a classifier's report is printed by ``chainrule train`` and ``chainrule evaluate``:
the majority-class baseline beside accuracy, then balanced accuracy, macro F1 and ROC AUC, a
per-class table (precision, recall, F1, support) and a text confusion matrix with the class
names.  The numbers come from :mod:`chainrule.training.class_metrics`.

>>> from chainrule.training.class_metrics import class_report
>>> r = class_report([0, 0, 0, 1], [[.9, .1], [.8, .2], [.4, .6], [.3, .7]], ["No", "Yes"])
>>> baseline_text(r)
"(always 'No': 75.0%)"
>>> print("\\n".join(report_lines(r)))
balanced accuracy 83.3%  macro F1 0.733  ROC AUC 1.000
class  precision  recall     F1  support
No         1.000   0.667  0.800        3
Yes        0.500   1.000  0.667        1
confusion matrix (rows: true class, columns: predicted):
     No  Yes
No    2    1
Yes   0    1
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .report import printable

__all__ = ["MAX_CLASS_ROWS", "MAX_MATRIX_CLASSES", "baseline_text", "report_lines"]

MAX_CLASS_ROWS = 30
"""The per-class table shows at most this many classes (the largest); --json has them all."""
MAX_MATRIX_CLASSES = 12
"""The confusion matrix is printed for at most this many classes (wider does not fit)."""
_NAME = 14  # a class name is cut to this many characters in the tables


def _name(text: str, width: int = _NAME) -> str:
    t = printable(text)
    return t if len(t) <= width else t[:width - 3] + "..."


def baseline_text(report: Any) -> str:
    """What always answering the majority class scores on the same rows."""
    name = printable(report.class_names[report.baseline_class])
    return f"(always {name!r}: {report.baseline_accuracy:.1%})"


def report_lines(report: Any) -> list[str]:
    """The report (a :class:`~chainrule.training.class_metrics.ClassReport`) as lines."""
    head = f"balanced accuracy {report.balanced_accuracy:.1%}  macro F1 {report.f1_macro:.3f}"
    if report.roc_auc is not None:
        head += f"  ROC AUC {report.roc_auc:.3f}"
    lines = [head]
    names = report.class_names
    order = list(range(len(names)))
    if len(names) > MAX_CLASS_ROWS:  # the largest classes, in the model's order
        order = sorted(np.argsort(-np.asarray(report.support), kind="stable")
                       [:MAX_CLASS_ROWS].tolist())
    width = max(5, *(len(_name(names[i])) for i in order))
    lines.append(f"{'class':<{width}}  precision  recall     F1  support")
    for i in order:
        lines.append(f"{_name(names[i]):<{width}}  {report.precision[i]:>9.3f}  "
                     f"{report.recall[i]:>6.3f}  {report.f1[i]:>5.3f}  "
                     f"{report.support[i]:>7d}")
    if len(order) < len(names):
        lines.append(f"... and {len(names) - len(order)} smaller classes (--json lists all)")
    if len(names) <= MAX_MATRIX_CLASSES:
        lines += _matrix_lines(names, report.confusion_matrix)
    else:
        lines.append(f"confusion matrix: {len(names)} classes, too wide to print "
                     "(--json holds it)")
    return lines


def _matrix_lines(names: list[str], matrix: list[list[int]]) -> list[str]:
    short = [_name(n, 10) for n in names]
    first = max(len(s) for s in short)
    cells = [max(len(s), *(len(str(row[j])) for row in matrix)) for j, s in enumerate(short)]
    lines = ["confusion matrix (rows: true class, columns: predicted):",
             " " * first + "".join(f"  {s:>{w}}" for s, w in zip(short, cells))]
    for s, row in zip(short, matrix):
        lines.append(f"{s:<{first}}" + "".join(f"  {v:>{w}}" for v, w in zip(row, cells)))
    return lines
