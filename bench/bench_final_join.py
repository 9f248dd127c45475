"""Benchmark: memory of joining a check's chunks into its final result.

Question (issue 13): after the last chunk, ``ChunkBook.final`` reads the pair's chunk
cells back from the store and joins them. How much memory does that take as the number
of chunks grows? Protocol: ``--chunks`` chunks of 16 images of (gradient, mprt) with
Lite0-sized artifacts (the 20 step maps of one 224x224 image, similarities (19, 4, 16))
are recorded through a ``ChunkBook`` into a temporary store; the peak of
``tracemalloc`` during ``final`` is printed (numpy reports its buffers to tracemalloc).

Usage (seconds)::

    python bench/bench_final_join.py --chunks 128
"""

from __future__ import annotations

import argparse
import os
import tempfile
import tracemalloc

import numpy as np

from saliency_core.checks.chunk_book import ChunkBook
from saliency_core.checks.chunk_worker import ChunkOutput, ChunkTask, PairOutput
from saliency_core.checks.settings import CheckSettings
from saliency_core.metrics.base import MetricResult
from saliency_core.store import ResultStore

PAIR = ("gradient", "mprt-cascading")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder, ResultStore(os.path.join(folder, "s.sqlite")) as store:
        run = store.start_run("check", metadata={})
        book = ChunkBook(store, run, "model", "data", [PAIR])
        for i in range(args.chunks):
            names = [f"c{i}-{j}" for j in range(16)]
            similarity = rng.uniform(size=(19, 4, 16))
            result = MetricResult(
                per_image=similarity[-1, 0],
                per_image_statistics={"last_step_spearman_abs": similarity[-1, 0]},
                artifacts={
                    "similarity": similarity,
                    "step_maps": rng.uniform(size=(20, 224, 224)).astype(np.float32),
                },
            )
            task = ChunkTask(index=i, images=np.zeros(1), names=names, pairs=[PAIR])
            book.record_chunk(task, ChunkOutput(i, names, [PairOutput(*PAIR, result, None, 1.0)]))
        tracemalloc.start()
        out = book.final(*PAIR, {}, seed=0, settings=CheckSettings())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"{args.chunks} chunks ({len(out.per_image)} images): final join peak {peak / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
