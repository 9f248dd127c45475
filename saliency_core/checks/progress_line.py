"""The line a check prints when a chunk finishes, carrying its counts."""

from __future__ import annotations

__all__ = ["ChunkLine"]


class ChunkLine(str):
    """``"chunk 2/8: 128/512 images, 3.10 images/s, ETA 124 s"``, a ``str`` that also
    carries its numbers, so a progress display can draw a bar from it and a plain
    ``print`` still shows the line.

    Attributes:
        chunk, chunks: This chunk's number (from 1) and the count (None when the number of
            images is not known in advance: an iterable without a length).
        images, total: Images up to the end of this chunk, and in all (or None).
        rate: Images per second computed since this run (or this resumption) started.
    """

    chunk: int
    chunks: int | None
    images: int
    total: int | None
    rate: float

    def __new__(cls, chunk: int, chunks: int | None, images: int, total: int | None, rate: float):
        eta = f", ETA {(total - images) / rate:.0f} s" if total and rate > 0 else ""
        text = (
            f"chunk {chunk}{f'/{chunks}' if chunks else ''}: "
            f"{images}{f'/{total}' if total else ''} images, {rate:.2f} images/s{eta}"
        )
        line = super().__new__(cls, text)
        line.chunk, line.chunks, line.images, line.total, line.rate = chunk, chunks, images, total, rate
        return line
