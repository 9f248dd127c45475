"""Benchmark: does the folder stream's background reading pay for itself?

Question (issue 13, streaming image sets): reading a folder batch by batch with a
prefetch thread and ``workers`` decoding threads, against decoding the same files in
the caller's loop, (a) with nothing else to do (pure decode throughput) and (b) with
a consumer that spends ``--work-ms`` per batch in code that releases the GIL (a
sleep standing in for a TensorFlow call), where reading can overlap the work.

Protocol, in one process: ``--files`` JPEGs of 640x480 (seeded smooth noise) are
written to a temporary folder; each round runs every configuration once, in turn
(sequential ``load_image`` loop; the stream with workers 0, 1, 2), so a slow period
of the shared machine hits them alike. Reported: median seconds over rounds and the
ratio to the sequential loop (below 1 is faster).

Usage (about a minute on 2 CPU cores)::

    python bench/bench_stream.py                     # 96 files, batch 16, 5 rounds
    python bench/bench_stream.py --work-ms 0         # decode throughput only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work-ms", type=float, default=60.0, help="consumer time per batch")
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image

    from saliency_core.data import folder_stream, load_image

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.files):
            coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((640, 480), Image.BICUBIC).save(
                os.path.join(folder, f"{i:04d}.jpg"), quality=90
            )
        work = args.work_ms / 1000

        def sequential():
            files = sorted(os.listdir(folder))
            for k in range(0, len(files), args.batch):
                images = [load_image(os.path.join(folder, f)) for f in files[k : k + args.batch]]
                assert images
                time.sleep(work)

        def streamed(workers):
            def run():
                for batch in folder_stream(folder).batches(args.batch, workers=workers):
                    assert len(batch)
                    time.sleep(work)

            return run

        configs = {
            "sequential loop": sequential,
            "stream workers=0": streamed(0),
            "stream workers=1": streamed(1),
            "stream workers=2": streamed(2),
        }
        seconds = {name: [] for name in configs}
        for run in configs.values():  # warm-up: file cache, imports
            run()
        for _ in range(args.rounds):
            for name, run in configs.items():
                t0 = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - t0)

    base = statistics.median(seconds["sequential loop"])
    print(
        f"{args.files} JPEGs 640x480, batch {args.batch}, consumer {args.work_ms:g} ms/batch, "
        f"{args.rounds} rounds, {os.cpu_count()} CPUs"
    )
    for name, values in seconds.items():
        median = statistics.median(values)
        print(
            f"  {name:18s} median {median:6.3f} s  ratio {median / base:5.2f}  "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
