"""A check's progress on stderr: a bar on a terminal, one line per event otherwise.

The check runner reports through one callable taking lines
(:func:`saliency_core.checks.run_checks`'s ``progress``). Lines about finished chunks are
:class:`~saliency_core.checks.progress_line.ChunkLine`\\ s, which carry the counts; on a
terminal they move a bar (images done of the total, rate, time left) and every other
line is printed above it. Off a terminal (a log file, a CI job, a pipe read by a
script) every line is printed as it comes.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from ..checks.progress_line import ChunkLine

__all__ = ["CheckProgress"]


class CheckProgress:
    """Callable progress sink for :func:`~saliency_core.checks.run_checks`; use it as a
    context manager so the bar is closed.

    Args:
        stream: Where to write (default ``sys.stderr``).
        bar: Draw a bar; default: when ``stream`` is a terminal.
    """

    def __init__(self, stream: TextIO | None = None, bar: bool | None = None):
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self._progress: Any = None  # a rich Progress, once the first chunk is done
        self._task: Any = None

    def __enter__(self) -> CheckProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, line: str) -> None:
        if not self.bar:
            print(line, file=self.stream, flush=True)
            return
        if isinstance(line, ChunkLine):
            self._advance(line)
        elif self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def _advance(self, line: ChunkLine) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("images, {task.fields[rate]:.2f}/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(file=self.stream, force_terminal=True),
                transient=False,
            )
            self._task = self._progress.add_task("check", total=line.total, rate=line.rate)
            self._progress.start()
        assert self._task is not None
        self._progress.update(
            self._task,
            completed=line.images,
            total=line.total,
            rate=line.rate,
            description=f"chunk {line.chunk}" + (f"/{line.chunks}" if line.chunks else ""),
        )
