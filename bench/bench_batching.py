"""Benchmark: ResNet50 saliency throughput over batch sizes, interleaved, with the roof.

Question (the harness's performance goals): does saliency reach 75% of the machine's
roof at its best batch size, and do batches of 32 and 64, split into the fastest
measured chunk, keep at least 95% of the best batch size's images/s?

The ``batch-sweep`` suite answers this cell after cell, so a slow minute on a shared
machine lands on whichever cell ran then. Here every round times one call of every
batch size and one roof sample, in turn, and the statistics are over rounds: slow
periods hit all batch sizes alike, and the ratios compare calls made seconds apart.

Protocol, in one process:

1. ResNet50 (random weights, seed 0), the chosen variant, raw RGB inputs (Caffe
   preprocessing inside the compiled function), logit of the top-1 class.
2. The chunk size: :func:`saliency_core.harness.chunking.find_best_chunk` over the
   candidates (each timed as a harness cell would be). Batches above it are computed
   as calls of that size, as the harness does.
3. One untimed call per batch size (trace, compile, warm-up).
4. ``--rounds`` rounds; in each, every batch size is called once (timed until the
   gradients are on the host) and the numpy fp32 2048² matmul roof is sampled.
5. Per batch size: median images/s over rounds and its ratio to the best batch
   size's; the roof fraction is ``images/s × FLOPs per image / roof``, with the FLOPs
   of the forward and input-gradient passes counted from the traced graphs and the
   roof the fastest sample of the run (the harness's rule).

Usage (about 3 minutes on 2 CPU cores)::

    python bench/bench_batching.py                      # function, rounds 8
    python bench/bench_batching.py --variant xla --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="function", choices=("eager", "function", "xla"))
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32,64")
    parser.add_argument("--candidates", default="4,8,16", help="chunk sizes to search")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args(argv)

    from saliency_core.harness.chunking import find_best_chunk
    from saliency_core.harness.flops import count_flops, measure_roof
    from saliency_core.harness.saliency_call import prepare_saliency_call
    from saliency_core.models.registry import load_model

    batches = [int(b) for b in args.batch_sizes.split(",")]
    candidates = tuple(int(c) for c in args.candidates.split(","))
    clf = load_model("resnet50", weights="random", seed=args.seed)
    flops = count_flops(clf).saliency
    choice = find_best_chunk(clf, variant=args.variant, device="cpu", candidates=candidates, seed=args.seed)
    calls = {}
    for b in batches:
        call, _, chunk = prepare_saliency_call(
            clf,
            variant=args.variant,
            batch_size=b,
            device="cpu",
            seed=args.seed,
            chunk_size=choice.chunk_for(b),
        )
        call()  # trace / compile / warm up
        calls[b] = (call, chunk)

    rates: dict[int, list[float]] = {b: [] for b in batches}
    roofs: list[float] = []
    for _ in range(args.rounds):
        for b in batches:
            start = time.perf_counter()
            calls[b][0]()
            rates[b].append(b / (time.perf_counter() - start))
        roofs.append(measure_roof(repeats=3, seed=args.seed))
    roof = max(roofs)
    median = {b: statistics.median(r) for b, r in rates.items()}
    best = max(median, key=median.get)
    rows = [
        {
            "batch_size": b,
            "chunk_size": calls[b][1],
            "images_per_s": median[b],
            "images_per_s_rounds": rates[b],
            "vs_best_batch": median[b] / median[best],
            "roof_fraction": median[b] * flops / (roof * 1e9),
        }
        for b in batches
    ]
    report = {
        "model": f"resnet50 (random weights, seed {args.seed:d})",
        "variant": args.variant,
        "rounds": args.rounds,
        "saliency_gflop_per_image": flops / 1e9,
        "chunk_search": choice.to_dict(),
        "roof_gflops": roof,
        "roof_samples_gflops": roofs,
        "best_batch": best,
        "rows": rows,
    }
    print(
        f"ResNet50 {args.variant}: {flops / 1e9:.2f} GFLOP per saliency image; roof "
        f"{roof:.1f} GFLOP/s (best of {len(roofs)} samples, median "
        f"{statistics.median(roofs):.1f}); chunk {choice.best} (search: "
        + ", ".join(f"{k}: {v:.2f}" for k, v in sorted(choice.images_per_s.items()))
        + ")"
    )
    print(f"{'batch':>5} {'chunk':>5} {'images/s':>9} {'vs best':>8} {'roof %':>7}")
    for r in rows:
        print(
            f"{r['batch_size']:>5} {r['chunk_size']:>5} {r['images_per_s']:>9.2f} "
            f"{r['vs_best_batch']:>7.1%} {r['roof_fraction']:>7.1%}"
        )
    goal_roof = median[best] * flops / (roof * 1e9) >= 0.75
    goal_large = all(median[b] / median[best] >= 0.95 for b in (32, 64) if b in median)
    print(
        f"goal: >= 75% of roof at the best batch ({best}): {'met' if goal_roof else 'NOT met'}; "
        f"batches 32 and 64 >= 95% of it: {'met' if goal_large else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
