"""``chainrule demo``: the course's worked example of backpropagation, step by step
(:func:`chainrule.tools.explain.explain`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..job import parse_positive_float
from .options import add_command, text_type
from .report import OK, printable

NAME = "demo"

EXAMPLES = """\
examples:
  chainrule demo
  chainrule demo --lr 0.05 --dot graph.dot      # then: dot -Tsvg graph.dot -o graph.svg"""


def add_parser(sub: Any) -> None:
    p = add_command(sub, NAME, "walk through the course's worked example of backpropagation",
                    "J = 1/2 (w x + b - y)^2 with w=2, b=8, x=-2, y=2: the forward pass, the "
                    "backward pass, and one step of gradient descent, as tables "
                    "(chainrule.tools.explain).", EXAMPLES)
    p.add_argument("--lr", type=text_type(parse_positive_float), default=0.1,
                   help="learning rate of the gradient-descent step (default 0.1)")
    p.add_argument("--dot", metavar="FILE.dot", help="also write the graph as Graphviz DOT")


def run(args: argparse.Namespace) -> int:
    """The course's worked example, its gradients and one step of gradient descent."""
    from ..engine import tensor
    from ..tools.explain import explain

    w, b = tensor(2.0, requires_grad=True), tensor(8.0, requires_grad=True)
    x, y = tensor(-2.0), tensor(2.0)
    c = w * x
    a = c + b
    d = a - y
    J = 0.5 * d**2
    ex = explain(J, names={"w": w, "b": b, "x": x, "y": y, "c": c, "a": a, "d": d, "J": J})
    print("The course's example: J = 1/2 (w x + b - y)^2 with w = 2, b = 8, x = -2, y = 2\n")
    print(ex)
    dw, db = ex.grad("w"), ex.grad("b")
    lr = args.lr
    print(f"\nOne step of gradient descent with learning rate {lr:g}:")
    print(f"  w := w - lr dJ/dw = 2 - {lr:g} * ({dw:g}) = {2 - lr * dw:g}")
    print(f"  b := b - lr dJ/db = 8 - {lr:g} * ({db:g}) = {8 - lr * db:g}")
    J2 = 0.5 * ((2 - lr * dw) * -2.0 + (8 - lr * db) - 2.0) ** 2
    print(f"  J goes from {ex.value('J'):g} to {J2:g}")
    if args.dot:
        from ..io.atomic import atomic_write

        atomic_write(args.dot, [ex.to_dot().encode("utf-8")])  # a full disk names the file
        dot = printable(args.dot)
        print(f"\ngraph written to {dot} (render with: dot -Tsvg {dot} -o graph.svg)")
    return OK
