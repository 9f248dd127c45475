"""A report table as plain text cells both renderers lay out (and escape): :class:`Table`,
the dash shown for a missing value, and the helpers the table builders share."""

from __future__ import annotations

from dataclasses import dataclass


__all__ = ["Table"]


DASH = "—"


@dataclass(frozen=True)
class Table:
    """Header ``columns`` and ``rows`` of already formatted text; ``numeric[i]`` marks
    columns to right-align."""

    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: tuple[bool, ...]


def fmt_or_dash(value, spec: str, scale: float = 1.0) -> str:
    return DASH if value is None else format(value * scale, spec)


def make_table(spec: list[tuple[str, bool]], rows: list[tuple]) -> Table:
    return Table(
        columns=tuple(c for c, _ in spec),
        rows=[tuple(map(str, r)) for r in rows],
        numeric=tuple(n for _, n in spec),
    )
