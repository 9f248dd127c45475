"""Reading a stream ahead of its consumer, on threads, in bounded memory.

The next batch is read on a background thread while the caller works on the current
one, the items of a batch being read by a small thread pool (Pillow releases the GIL
while it decodes, numpy while it computes). A thread pool rather than ``tf.data``
keeps this numpy-only, runs any Python loader unchanged (files, generators, photo
loaders, the synthetic renderer) and makes the memory bound explicit: besides the
batch the caller holds, at most ``prefetch`` batches wait in the queue, one more is
assembled (held until the next image is read), and ``2 * workers`` items are being
read. Closing the iterator (``close()``, dropping it after ``break``, or an error in
the caller's loop) stops the reader and joins every thread it started.

Skip warnings are issued on the caller's thread, as each batch is handed out.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .batch import Batch, Item, Loaded, SkipImage
from .images import ImageSkippedWarning

__all__ = ["read_batches"]

# Seconds between checks of the stop flag while the reader waits for room in the queue.
_POLL_S = 0.05


def read_batches(
    items: Callable[[], Iterator[Item]],
    *,
    source: str,
    size: int,
    prepare: Callable[[list[np.ndarray]], np.ndarray] | None,
    start: int,
    prefetch: int,
    workers: int,
) -> Iterator[Batch]:
    """Batches of ``size`` images from ``items()`` (called on the reader thread), read
    ahead as the module docstring says; ``source`` and ``start`` name the stream and
    its first position in errors. Options are taken as valid (checked by the caller).
    """
    out: queue.Queue = queue.Queue(maxsize=prefetch)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read,
        name="image-stream-reader",
        daemon=True,
        args=(items, source, size, prepare, start, workers, out, stop),
    )
    reader.start()
    try:
        while True:
            message = out.get()
            if message is _END:
                return
            for path, reason in message.skipped:
                warnings.warn(f"skipped {path}: {reason}", ImageSkippedWarning, stacklevel=2)
            if isinstance(message, _Failure):
                raise message.error
            yield message
            del message  # the caller holds the batch; do not keep it while waiting
    finally:
        stop.set()
        reader.join()


def _read(items, source, size, prepare, start, workers, out, stop) -> None:
    """Reader thread: assemble (and prepare) batches into ``out`` until done or stopped."""
    unreported: list[tuple[str, str]] = []  # skips not yet in a batch
    try:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="image-stream-decode") if workers else None
        try:
            results = _in_order(items(), pool, 2 * workers, stop)
            for batch in _assemble(results, size, source, start, unreported):
                if prepare is not None:
                    batch.images = prepare(batch.images)
                if not _put(out, batch, stop):
                    return
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    except BaseException as error:  # handed to the caller's thread, raised there
        _put(out, _Failure(error, list(unreported)), stop)
    else:
        _put(out, _END, stop)


@dataclass(frozen=True)
class _Failure:
    error: BaseException
    skipped: list[tuple[str, str]]  # warned before the error is raised


_END = object()


def _put(out: queue.Queue, message, stop: threading.Event) -> bool:
    """Queue ``message`` unless the consumer has stopped; True if queued."""
    while not stop.is_set():
        try:
            out.put(message, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _load(item: Item) -> Loaded | SkipImage:
    try:
        return item.load()
    except SkipImage as skip:
        return skip


def _in_order(
    items: Iterator[Item], pool: ThreadPoolExecutor | None, window: int, stop: threading.Event
) -> Iterator[tuple[Item, Loaded | SkipImage]]:
    """(item, result) in stream order, with at most ``window`` items being read at once."""
    if pool is None:
        for item in items:
            if stop.is_set():
                return
            yield item, _load(item)
        return
    pending: deque = deque()
    for item in items:
        if stop.is_set():
            return
        pending.append((item, pool.submit(_load, item)))
        if len(pending) >= window:
            first, future = pending.popleft()
            yield first, future.result()
    while pending and not stop.is_set():
        first, future = pending.popleft()
        yield first, future.result()


def _assemble(results, size: int, source: str, start: int, skipped: list[tuple[str, str]]) -> Iterator[Batch]:
    """Group results into batches of ``size`` images, each with the items skipped while
    it was built. A full batch is held until the next image is read, so that items
    skipped after the last image are reported with the last batch and none is empty;
    if reading fails, the held batch is yielded before the error is raised. ``skipped``
    (the caller's list) holds the skips not yet handed out in a batch.
    """
    done: list[tuple[Item, Loaded]] = []
    held: Batch | None = None
    tried, position = 0, start
    try:
        for item, result in results:
            tried, position = tried + 1, item.index
            if isinstance(result, SkipImage):
                skipped.append((result.path, result.reason))
                continue
            if held is not None:
                yield held
                held = None
            done.append((item, result))
            if len(done) == size:
                held = _batch(done, skipped, item.index + 1)
                done = []
                skipped.clear()
    except Exception as error:
        if held is not None:
            yield held
        raise error
    if held is not None:
        held.skipped += skipped
        held.next_start = position + 1
        skipped.clear()
        yield held
    elif done:
        batch = _batch(done, skipped, position + 1)
        skipped.clear()
        yield batch
    elif tried:
        where = "" if start == 0 else f" from position {start} on"
        raise ValueError(
            f"none of the {tried} items of {source}{where} could be read "
            f"(first: {skipped[0][0]}: {skipped[0][1]})"
        )


def _batch(done: list[tuple[Item, Loaded]], skipped: list[tuple[str, str]], next_start: int) -> Batch:
    loaded = [result for _, result in done]
    masks = None
    if all(r.mask is not None for r in loaded):
        masks = np.stack([np.asarray(r.mask, dtype=bool) for r in loaded])
    labels = [r.label for r in loaded]
    return Batch(
        images=[r.image for r in loaded],
        names=[item.name for item, _ in done],
        indices=[item.index for item, _ in done],
        masks=masks,
        labels=labels if any(label is not None for label in labels) else None,
        skipped=list(skipped),
        next_start=next_start,
    )
