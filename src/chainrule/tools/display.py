"""HTML for notebooks: tables, and a drawing of a computation graph that needs no Graphviz.

Jupyter shows an object's ``_repr_html_``; these helpers build that HTML from plain rows so the
explain and diagnose reports look the same in a notebook as in a terminal, only easier to read.

>>> html = html_table(("node", "value"), [("w", "2"), ("J", "<4>")])
>>> html.count("<tr>"), "<td>&lt;4&gt;</td>" in html
(3, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

__all__ = ["BACKWARD_FILL", "constant", "dot_escape", "fmt", "graph_svg", "html_table", "number",
           "plain", "same", "text_table"]


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]],
               marked: Sequence[int] = (), caption: str | None = None) -> str:
    """An HTML table; rows whose index is in ``marked`` are shown in bold."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td>{escape(str(c))}</td>" for c in row)
        style = ' style="font-weight:bold"' if i in marked else ""
        body.append(f"<tr{style}>{cells}</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (f'<table class="chainrule">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


BACKWARD_FILL = "#fde2c8"  # the operations a backward pass recorded (a gradient's own graph)
_FILL = {"parameter": "#dbe9f6", "constant": "#eeeeee", "operation": "#ffffff",
         "backward": BACKWARD_FILL}


def graph_svg(nodes: Sequence[tuple[str, Sequence[str], str]],
              edges: Sequence[tuple[str, str]]) -> str:
    """Draw a graph left to right as SVG.

    ``nodes`` are ``(name, lines of text, kind)`` in an order where inputs come before the
    nodes computed from them (kind is 'parameter', 'constant', 'operation' or 'backward', an
    operation recorded by a backward pass); ``edges`` are
    ``(from, to)`` pairs of names.  Each node sits in the column of its longest path from a
    leaf, so the picture reads as the forward pass does.
    """
    parents: dict[str, list[str]] = {name: [] for name, _, _ in nodes}
    for a, b in edges:
        parents[b].append(a)
    column: dict[str, int] = {}
    for name, _, _ in nodes:
        column[name] = 1 + max((column[p] for p in parents[name]), default=-1)
    rows: dict[int, int] = {}
    place: dict[str, tuple[float, float]] = {}
    width = max((max(len(t) for t in lines) for _, lines, _ in nodes), default=4) * 7 + 24
    height = max((len(lines) for _, lines, _ in nodes), default=1) * 16 + 14
    for name, _, _ in nodes:
        c = column[name]
        r = rows.get(c, 0)
        rows[c] = r + 1
        place[name] = (20 + c * (width + 50), 20 + r * (height + 24))
    total_w = 40 + (max(column.values(), default=0) + 1) * (width + 50)
    total_h = 40 + max(rows.values(), default=1) * (height + 24)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>'
           "</defs>"]
    for a, b in edges:
        (xa, ya), (xb, yb) = place[a], place[b]
        out.append(f'<line x1="{xa + width}" y1="{ya + height / 2}" x2="{xb}" '
                   f'y2="{yb + height / 2}" stroke="#555" marker-end="url(#arrow)"/>')
    for name, lines, kind in nodes:
        x, y = place[name]
        rx = 14 if kind in ("operation", "backward") else 3
        out.append(f'<g><title>{escape(name)}</title><rect x="{x}" y="{y}" width="{width}" '
                   f'height="{height}" rx="{rx}" fill="{_FILL.get(kind, "#ffffff")}" '
                   'stroke="#333"/>')
        for i, text in enumerate(lines):
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(f'<text x="{x + 12}" y="{y + 20 + 16 * i}"{weight}>{escape(text)}'
                       "</text>")
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


# -- text: numbers as the course writes them, and plain tables ------------------------------------

def plain(a: np.ndarray) -> Any:
    return float(a.item()) if a.size == 1 else a


def number(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"


def constant(c: Any) -> str:
    """A constant operand inside a formula: numbers as the course writes them."""
    if isinstance(c, str):
        return c
    if isinstance(c, (int, float, np.number)) and not isinstance(c, bool):
        text = number(c)
        return f"({text})" if text.startswith("-") else text
    return str(c)


def fmt(a: Any) -> str:
    """A number as the course writes it (2, -4, 0.25); a small array inline; a big one by shape."""
    if a is None:
        return ""
    a = np.asarray(a)
    if a.size == 1:
        return number(a.item())
    if a.size <= 6:
        return np.array2string(a, precision=4, separator=", ", suppress_small=True
                               ).replace("\n", "")
    return f"array{a.shape}"


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def text_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def dot_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
