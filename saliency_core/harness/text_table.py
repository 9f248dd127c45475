"""Plain-text tables of the comparisons and of the stored runs.

The plain formatter (``format_table``) is what tests read; ``print_table`` uses
``rich`` on a terminal when it is installed. ``runs_table`` lists runs with their cell
counts and commit.
"""

from __future__ import annotations

import sys
from typing import IO, Sequence

from ..store.db import ResultStore
from ..store.records import Run

__all__ = ["runs_table", "format_table", "print_table"]


def num(value: float | None, fmt: str, suffix: str = "") -> str:
    return "n/a" if value is None else format(value, fmt) + suffix


def runs_table(store: ResultStore, runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """Headers and string cells listing runs with their cell counts and commit."""
    headers = ["run", "suite", "status", "started", "finished", "cells ok", "cells failed", "commit"]
    body = []
    for run in runs:
        cells = store.cells(run.id)
        ok = sum(c.status == "ok" for c in cells)
        commit = run.metadata.get("commit_info", {})
        cid = str(commit.get("id") or "")
        body.append(
            [
                run.id,
                run.suite,
                run.status,
                run.started[:19].replace("T", " "),
                (run.finished or "")[:19].replace("T", " "),
                str(ok),
                str(len(cells) - ok),
                (cid[:10] if len(cid) == 40 else cid) + ("+dirty" if commit.get("dirty") else ""),
            ]
        )
    return headers, body


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: columns left-aligned and padded, a dashed rule under the header."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(c))) for w, c in zip(widths, row)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip()
        for line in [list(headers), ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    file: IO[str] | None = None,
) -> None:
    """Print a table: with ``rich`` when installed and ``file`` is a terminal, else plain."""
    file = file or sys.stdout
    if file.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(title=title)
            for h in headers:
                table.add_column(h)
            for row in rows:
                table.add_row(*map(str, row))
            Console(file=file).print(table)
            return
    if title:
        print(title, file=file)
    print(format_table(headers, rows), file=file)
