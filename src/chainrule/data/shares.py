"""A rank's share of a table under MPI: each rank parses only its own records of the file.

:func:`read_share` gives every rank a contiguous share of the rows; in rank order the shares
are the rows one :func:`~chainrule.data.tabular.read_frame` of the whole file gives, with the
same column types.  How:

1. every rank reads the header (a few kilobytes);
2. one pass over the file, split between the ranks, finds each rank's byte range of whole
   records, quoted line breaks included (:func:`chainrule.data.pieces.record_range`);
3. each rank parses only its range; the ranks' counts of records and rows give each share
   its place in the file, so an error names the file's own row
   (:func:`~chainrule.data.diagnosis.record_number`);
4. the parser types each share's columns on its own, so the ranks agree on one type per
   column, the one the whole file would get: whole numbers become decimals where any rank
   holds decimals or a missing cell, true/false values objects where any cell is missing; a
   column read as numbers or true/false on some ranks and as something else on others
   (1 and 0 beside True and False too) is read again as text where it was not, and a
   column with no cell on a rank takes the type the other ranks agree on.

A DataFrame built in memory (every rank holds all of it) is cut into contiguous shares of
rows.  With one process, the whole table is read as usual.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..errors import DataError
from . import pieces
from .cells import names_list
from .diagnosis import diagnose, nul_error
from .encoding import readable
from .shards import shard_range
from .tabular import (
    TableFile,
    in_memory,
    is_parser_error,
    open_table,
    read_frame,
    require_pandas,
)

__all__ = ["read_share"]

_SAMPLE_BYTES = 64 << 10  # the bytes at each end of the file that the ranks compare
_GROUPS_SHOWN = 4  # versions of a file (or DataFrame) named in the message


def read_share(source: Any, comm: Any, *, delimiter: str | None = None) -> Any:
    """This rank's share of the rows of a CSV file or DataFrame ``source`` (see the module
    docstring).  ``comm`` is a ``chainrule.distributed.Communicator``; an error on any rank
    stops every rank (the failing one raises its own error, the others a DistributedError
    quoting it)."""
    pd = require_pandas()
    if comm.size == 1:
        return read_frame(source, delimiter=delimiter)
    if isinstance(source, pd.DataFrame):
        seen = comm.gather((len(source), [str(c) for c in source.columns]))
        comm.agree(lambda: _same_frame_everywhere(seen), "take its share of the table")
        return comm.agree(lambda: _memory_share(source, comm), "take its share of the table")
    f = comm.agree(lambda: open_table(source, delimiter), "read the table's header")
    _same_file_everywhere(f, comm)
    scan = comm.agree(lambda: pieces.share_scan(f.name, f.header_end, comm.rank, comm.size,
                                                f.delimiter), "read its share of the table")
    scans = comm.gather(scan)
    span = comm.agree(lambda: pieces.record_range(f.name, f.header_end, comm.rank, comm.size,
                                                  scans, f.delimiter),
                      "read its share of the table")
    if span is None:  # every rank gets None alike
        return _whole_file_share(source, delimiter, comm)
    if span.nul is not None or not span.balanced:  # every rank knows; rank 0 names the row
        comm.agree(lambda: _refuse(f, span.nul) if comm.rank == 0 else None, "read the table")
    frame = comm.agree(lambda: _parse(pd, f, span, explain=False),
                       "read its share of the table")
    if any(comm.gather(frame is None)):
        return _whole_file_share(source, delimiter, comm)
    counts = comm.gather((pieces.records_in(f.name, span.start, span.stop, f.delimiter),
                          len(frame)))
    first_record = 2 + sum(n for n, _ in counts[:comm.rank])
    first_row = sum(rows for _, rows in counts[:comm.rank])
    comm.agree(lambda: _has_rows(f, sum(rows for _, rows in counts)), "read the table")
    if min(rows for _, rows in counts) == 0:
        return _whole_file_share(source, delimiter, comm)
    kinds = comm.gather([(_kind(frame.iloc[:, j]), bool(frame.iloc[:, j].isna().any()))
                         for j in range(frame.shape[1])])
    frame = comm.agree(lambda: _agree_types(pd, f, span, frame, kinds),
                       "read its share of the table")
    dtypes = comm.gather(list(frame.dtypes))
    if _still_differ(kinds, dtypes):  # whole numbers beyond int64 beside others, say
        return _whole_file_share(source, delimiter, comm)
    frame = comm.agree(lambda: _empty_columns_typed(frame, kinds, dtypes, comm.rank),
                       "read its share of the table")
    return comm.agree(lambda: f.finish(frame, (span.start, span.stop),
                                       first_record=first_record, first_row=first_row),
                      "read its share of the table")


def _whole_file_share(source: Any, delimiter: str | None, comm: Any) -> Any:
    """This rank's contiguous share of one read of the whole file, for the files whose byte
    ranges do not work out: where a rank's range does not parse (a malformed row, which the
    whole read then names), a rank's range holds no row (tiny files, trailing blank lines),
    or the ranks' column types cannot be made to agree.  Every rank reads the file: the
    result is what one process reads."""
    frame = comm.agree(lambda: read_frame(source, delimiter=delimiter), "read the table")
    start, stop = shard_range(len(frame), comm.rank, comm.size)
    return frame.iloc[start:stop]


def _fingerprint(f: TableFile) -> tuple[int, tuple[str, ...], str]:
    """The file's size, its header as read, and a digest of its first and last bytes."""
    path = readable(f.name)
    size = os.path.getsize(path)
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        digest.update(file.read(_SAMPLE_BYTES))
        file.seek(max(0, size - _SAMPLE_BYTES))
        digest.update(file.read(_SAMPLE_BYTES))
    return size, tuple(f.header), digest.hexdigest()


def _same_file_everywhere(f: TableFile, comm: Any) -> None:
    """Refuse, on every rank alike, a path that is not the same file on every rank (copies
    local to each node that differ in size, columns or content): each rank would read its
    share of a different table, and together they would train on a mix."""
    seen = comm.gather(comm.agree(lambda: _fingerprint(f), "read the table"))

    def check() -> None:
        groups: dict[tuple[int, tuple[str, ...], str], list[int]] = {}
        for rank, key in enumerate(seen):
            groups.setdefault(key, []).append(rank)
        if len(groups) == 1:
            return
        sizes = {size for size, _, _ in groups}
        headers = {header for _, header, _ in groups}
        what = " and ".join(w for w, differ in (("sizes", len(sizes) > 1),
                                                 ("columns", len(headers) > 1)) if differ) or \
            "contents (same size and columns)"
        parts = []
        for (size, header, _), ranks in list(groups.items())[:_GROUPS_SHOWN]:
            who = ("rank " if len(ranks) == 1 else "ranks ") + _ranks(ranks)
            parts.append(f"{who}: {size:,} bytes, columns {names_list(list(header), 10)}")
        if len(groups) > _GROUPS_SHOWN:
            parts.append(f"and {len(groups) - _GROUPS_SHOWN:,} more versions")
        raise DataError(f"{f.name} is not the same file on every rank (its {what} differ): "
                        f"{'; '.join(parts)}; every rank must read one file: copy the same "
                        "file to every node, or put it on a file system they share")

    comm.agree(check, "read the table")


def _ranks(ranks: list[int], limit: int = 8) -> str:
    shown = ", ".join(map(str, ranks[:limit]))
    return shown + (f" and {len(ranks) - limit:,} more" if len(ranks) > limit else "")


def _same_frame_everywhere(seen: list[tuple[int, list[str]]]) -> None:
    """Refuse DataFrames that differ between the ranks in rows or columns (``seen``: every
    rank's): the rows are cut into shares as if every rank held the same table."""
    if all(s == seen[0] for s in seen):
        return
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for rank, (n, columns) in enumerate(seen):
        groups.setdefault((n, tuple(columns)), []).append(rank)
    parts = "; ".join(f"{'rank' if len(ranks) == 1 else 'ranks'} {_ranks(ranks)}: {n:,} rows, "
                      f"columns {names_list(list(columns), 10)}"
                      for (n, columns), ranks in list(groups.items())[:_GROUPS_SHOWN])
    if len(groups) > _GROUPS_SHOWN:
        parts += f"; and {len(groups) - _GROUPS_SHOWN:,} more versions"
    raise DataError(f"the DataFrame differs between the ranks: {parts}; give every rank the "
                    "same table (each rank takes its share of the rows)")


def _memory_share(frame: Any, comm: Any) -> Any:
    start, stop = shard_range(len(frame), comm.rank, comm.size)
    share = in_memory(frame).iloc[start:stop]
    share.index = range(start, stop)  # record_number: row = 2 + position in the whole table
    share.attrs.update(chainrule_first_record=2, chainrule_first_row=0)
    return share


def _has_rows(f: TableFile, rows: int) -> None:
    if not rows:
        raise DataError(f"{f.name}: the file has a header but no data rows")


def _refuse(f: TableFile, nul: int | None) -> None:
    if nul is not None:
        raise nul_error(f.name, f.delimiter, f.header, nul)
    raise diagnose(f.name, f.delimiter, f.header)


def _parse(pd: Any, f: TableFile, span: pieces.RecordRange,
           dtype: dict[str, Any] | None = None, explain: bool = True) -> Any:
    """The records of ``span`` as a frame with the parser's own column names; where the
    parser refuses them, a DataError naming the row (or None, with ``explain=False``)."""
    options = f.options()
    if dtype:
        options["dtype"] = dtype
    try:
        frame = f.parse_bytes(pd, (span.start, span.stop), options)
    except Exception as err:
        if not explain and is_parser_error(err):
            return None
        raise f.parse_error(err) from None
    return frame


def _kind(s: Any) -> str:
    """What the parser made of a share's column: int, float, bool, date, datetime, text, or
    none (no cell present)."""
    from pandas.api.types import infer_dtype

    if not s.notna().any():
        return "none"
    k = s.dtype.kind
    if k in "iu":
        return "int"
    if k in "fbM":
        return {"f": "float", "b": "bool", "M": "datetime"}[k]
    found = infer_dtype(s, skipna=True)
    return {"boolean": "bool", "date": "date", "datetime": "datetime"}.get(found, "text")


def _agree_types(pd: Any, f: TableFile, span: pieces.RecordRange, frame: Any,
                 kinds: list[list[tuple[str, bool]]]) -> Any:
    """``frame`` with each column of the type the whole file's read gives it (``kinds``:
    every rank's kind and whether a cell is missing, per column)."""
    names = list(frame.columns)
    seen = [{ranks[j][0] for ranks in kinds} - {"none"} for j in range(len(names))]
    # pandas' C engine reads a column of 1, 0, True and False as text, not true/false
    as_text = [name for name, k in zip(names, seen) if len(k) > 1 and not k <= {"int", "float"}
               and _kind(frame[name]) not in ("text", "none")]
    if as_text:
        frame = _parse(pd, f, span, dtype=dict.fromkeys(as_text, str))
    for j, name in enumerate(names):
        missing = any(ranks[j][1] for ranks in kinds)
        # decimals anywhere, a missing cell in whole numbers, or nothing at all: floats
        if seen[j] <= {"int", "float"} and (seen[j] != {"int"} or missing) and \
                frame[name].dtype.kind != "f":
            frame[name] = frame[name].astype("float64")
        elif seen[j] == {"bool"} and missing and frame[name].dtype.kind == "b":
            frame[name] = frame[name].astype(object)  # true/false with gaps: objects
    return frame


def _still_differ(kinds: list[list[tuple[str, bool]]], dtypes: list[list[Any]]) -> bool:
    """Whether a column has two types on ranks that hold cells of it (``kinds``, ``dtypes``:
    every rank's), which the agreement does not settle: the C engine's whole numbers beyond
    int64 (unsigned, or Python ints) beside other cells.  The same on every rank."""
    return any(len({str(d[j]) for r, d in enumerate(dtypes) if kinds[r][j][0] != "none"}) > 1
               for j in range(len(dtypes[0])))


def _empty_columns_typed(frame: Any, kinds: list[list[tuple[str, bool]]], dtypes: list[list[Any]],
                         rank: int) -> Any:
    """``frame`` with each column that has no cell on this share (the parser types it as
    float NaN) of the type the shares with cells agree on (``dtypes``: every rank's column
    types), as one read of the whole file types it: text, dates or true/false with gaps."""
    for j, name in enumerate(frame.columns):
        if kinds[rank][j][0] != "none":
            continue
        others = {str(d[j]): d[j] for r, d in enumerate(dtypes) if kinds[r][j][0] != "none"}
        if len(others) == 1:
            (dtype,) = others.values()
            if frame[name].dtype != dtype:
                frame[name] = frame[name].astype(dtype)  # every cell is missing: NaN/NaT stay
    return frame
