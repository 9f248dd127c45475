"""Benchmark: cascading model-parameter randomization over every block of ResNet50.

Question: does the randomization test reuse one compiled saliency function (weights
assigned between steps), or does it pay a rebuild / recompile per step? Target:
the whole run costs at most 1.5 x (steps x one warm saliency call), where a step
is one saliency call (the trained model's maps, then one per randomized block).

Measures, in wall-clock seconds:

* one warm saliency call (median of ``--repeats``) on a separate, warmed Explainer
  of the same model, same images, same method;
* the run: setup (clone + explainer), the first call (includes tracing and XLA
  compilation), per step: assigning re-initialised weights, the saliency call and
  the similarity measures (scored on a worker thread while the next step runs, so
  the per-step times overlap; ``ratio_steps_only`` uses the steps' wall clock);
* compile counts: the gradient function's Python traces, ``tf.function`` tracing
  count, and the number of XLA modules compiled (counted from an XLA dump directory).

Usage::

    python bench/bench_randomization.py               # 8 images, function, all 18 blocks
    python bench/bench_randomization.py --images 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _xla_modules(dump_dir: Path) -> dict[str, int]:
    """Count compiled XLA modules in a dump directory, by the function they came from."""
    counts: dict[str, int] = {}
    for path in dump_dir.glob("*.before_optimizations.txt"):
        name = path.name.split(".", 2)[1] if path.name.count(".") >= 2 else path.name
        key = "gradient" if "body" in name else "other"
        counts[key] = counts.get(key, 0) + 1
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8, help="images per saliency call")
    parser.add_argument("--variant", default="function", choices=("eager", "function", "xla"))
    parser.add_argument("--method", default="gradient")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="warm reference calls")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--no-dump", action="store_true", help="do not count XLA compilations")
    args = parser.parse_args(argv)

    # Entry point only: configure XLA's dump before TensorFlow is imported.
    dump_dir = None
    if not args.no_dump:
        dump_dir = Path(tempfile.mkdtemp(prefix="xla_dump_"))
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={dump_dir} --xla_dump_hlo_as_text"
        ).strip()

    import numpy as np

    from saliency_core import Explainer
    from saliency_core.checks.randomization import mprt
    from saliency_core.checks.randomization_blocks import randomization_blocks
    from saliency_core.models.registry import load_model

    clf = load_model("resnet50", weights="random")
    blocks = randomization_blocks(clf)
    images = (
        np.random.default_rng(args.seed).uniform(0, 255, (args.images, *clf.input_shape)).astype("float32")
    )
    options = None  # the method's defaults; the seed is passed on its own

    # Reference: one warm saliency call on its own Explainer.
    ref = Explainer(clf, variant=args.variant, batch_size=args.images)
    t0 = time.perf_counter()
    ref.explain(images, method=args.method, reduce="sum", options=options, seed=args.seed)
    ref_first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ref.explain(images, method=args.method, reduce="sum", options=options, seed=args.seed)
        times.append(time.perf_counter() - t0)
    one_call = statistics.median(times)
    modules_before = _xla_modules(dump_dir) if dump_dir else {}

    result = mprt(
        clf,
        images,
        mode="cascading",
        method=args.method,
        seed=args.seed,
        variant=args.variant,
        batch_size=args.images,
        keep_maps=False,
    )
    tm = result.timings
    modules_after = _xla_modules(dump_dir) if dump_dir else {}
    steps = len(result.blocks) + 1  # saliency calls: the trained model, then one per block
    compile_s = max(tm["original_s"] - one_call, 0.0)
    report = {
        "model": "resnet50 (random weights)",
        "variant": args.variant,
        "method": args.method,
        "images": args.images,
        "blocks": len(blocks),
        "steps": steps,
        "one_call_s": one_call,
        "one_call_times_s": times,
        "reference_first_call_s": ref_first,
        "total_s": tm["total_s"],
        "setup_s": tm["setup_s"],
        "first_call_s": tm["original_s"],
        "assign_s_median": statistics.median(tm["assign_s"]),
        "assign_s_sum": sum(tm["assign_s"]),
        "explain_s_median": statistics.median(tm["explain_s"]),
        "explain_s_max": max(tm["explain_s"]),
        "similarity_s_median": statistics.median(tm["similarity_s"]),
        "budget_s": 1.5 * steps * one_call,
        "ratio_total": tm["total_s"] / (steps * one_call),
        "ratio_excluding_one_compile": (tm["total_s"] - compile_s) / (steps * one_call),
        "ratio_steps_only": (one_call + tm["steps_s"]) / (steps * one_call),
        "traces": result.traces,
        "tf_function_tracing_count": ref.fn.fn.experimental_get_tracing_count()
        if hasattr(ref.fn.fn, "experimental_get_tracing_count")
        else None,
        "xla_modules_reference": modules_before.get("gradient", 0),
        "xla_modules_mprt": modules_after.get("gradient", 0) - modules_before.get("gradient", 0),
        "xla_modules_other": modules_after.get("other", 0),
        "spearman_abs_curve": [round(float(v), 4) for v in result.curve("spearman_abs")],
        "block_names": result.blocks,
    }
    width = max(len(k) for k in report)
    for key, value in report.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
