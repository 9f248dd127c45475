"""Benchmark: deletion and insertion with their perturbed images scored in low precision.

Question (issue 14, "low-precision scoring in checks"): how much faster is a check whose
perturbed images are scored in bfloat16 (or float16) while its maps stay float32, and
does the area under the curve stay inside its confidence interval?

Protocol: ``--images`` photo crops (``bench_peers.photo_crops``, seed 0) per model;
``run_checks`` with ``--methods`` (default gradient), metrics deletion and insertion,
``--curve-steps`` steps, variant ``function``, batch 8, seed 0. Configurations,
run in alternating order over ``--rounds`` rounds in this one process (the maps are
computed inside each run, the same in all):

* ``float32``: perturbed images scored in float32;
* ``<low> every K``: scored in the low precision, about one image in K
  (``--check-every``) also scored in float32 to judge it: the run's real cost;
* ``<low> every 1``: every image scored in both (untimed: the full comparison).

Reported per model: seconds (median over rounds) and the ratio to float32; each
result's AUC, the judgement (paired AUC change and its 95% interval over the checked
images, the AUC's interval half-width, accepted or not), and from the ``every 1`` run
the largest per-image change.

Usage (about 10 minutes on 2 CPU cores without bfloat16 instructions)::

    python bench/bench_score_precision.py --out bench/results/score-precision/run.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_peers import cpu_flags, load, photo_crops

METRICS = ("deletion", "insertion")


def check(clf, images, args, score_precision, every):
    from saliency_core.checks import run_checks
    from saliency_core.checks.settings import CheckSettings, with_curve_steps

    settings = with_curve_steps(
        CheckSettings(score_precision=score_precision, score_check_every=every),
        clf.input_shape,
        args.curve_steps,
    )
    start = time.perf_counter()
    report = run_checks(
        clf,
        images,
        methods=args.methods.split(","),
        metrics=list(METRICS),
        seed=0,
        data_name="photo-crops",
        variant="function",
        batch_size=8,
        chunk_images=len(images),
        settings=settings,
    )
    return time.perf_counter() - start, report


def row(result) -> dict:
    iv = (result.intervals or {}).get("value") or {}
    return {
        "value": result.value,
        "low": iv.get("low"),
        "high": iv.get("high"),
        "per_image": list(result.per_image),
        "score_check": result.config.get("score_check"),
        "warnings": list(result.warnings),
    }


def measure(name: str, args) -> dict:
    clf = load(name)
    images, names = photo_crops(clf, args.images, seed=0)
    configs = [("float32", None, 1), (f"{args.low} every {args.check_every}", args.low, args.check_every)]
    check(clf, images[:8], args, None, 1)  # trace and compile outside the timed runs
    check(clf, images[:8], args, args.low, 1)
    seconds: dict = {label: [] for label, _, _ in configs}
    results: dict = {}
    for r in range(args.rounds):
        for label, precision, every in configs if r % 2 == 0 else configs[::-1]:
            took, report = check(clf, images, args, precision, every)
            seconds[label].append(took)
            results[label] = {f"{x.method} {x.metric}": row(x) for x in report.results}
            print(f"[{name}] round {r} {label}: {took:.1f} s", flush=True)
    _, full = check(clf, images, args, args.low, 1)
    results[f"{args.low} every 1"] = {f"{x.method} {x.metric}": row(x) for x in full.results}
    median = {label: statistics.median(v) for label, v in seconds.items()}
    return {
        "model": name,
        "images": names,
        "seconds": seconds,
        "median_s": median,
        "speedup": median["float32"] / median[configs[1][0]],
        "results": results,
    }


def markdown(report: dict) -> str:
    low, every = report["args"]["low"], report["args"]["check_every"]
    lines = [
        f"# Low-precision scoring of deletion and insertion ({report['label']})",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`.",
        "",
        f"Maps float32 in every run; perturbed images scored in float32 or {low} (about one "
        f"image in {every} also scored in float32 to judge it). Seconds: median of "
        f"{report['args']['rounds']} alternating rounds of the whole deletion + insertion check "
        f"(methods {', '.join(report['args']['methods'].split(','))}, maps included).",
        "",
        f"| model | images | float32 s | {low} s | speed-up | results accepted |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for m in report["models"]:
        label = f"{low} every {every}"
        judged = [r["score_check"] for r in m["results"][label].values()]
        accepted = sum(bool(j and j.get("accepted")) for j in judged)
        lines.append(
            f"| {m['model']} | {len(m['images'])} | {m['median_s']['float32']:.1f} | "
            f"{m['median_s'][label]:.1f} | {m['speedup']:.2f}x | {accepted} of {len(judged)} |"
        )
    lines += [
        "",
        "Per result (the run with every image scored in both precisions): AUC in float32 "
        f"and in {low}, the paired change [95% interval], the AUC's interval half-width.",
        "",
        f"| model | result | float32 AUC | {low} AUC | change [95% CI] | largest per-image | "
        "half-width | accepted |",
        "|---|---|---:|---:|---|---:|---:|---|",
    ]
    for m in report["models"]:
        full = m["results"][f"{low} every 1"]
        for key, r in full.items():
            j, f32 = r["score_check"] or {}, m["results"]["float32"][key]
            lines.append(
                f"| {m['model']} | {key} | {f32['value']:.4f} | {r['value']:.4f} | "
                f"{j.get('change', float('nan')):+.4f} [{j.get('change_low', float('nan')):+.4f}, "
                f"{j.get('change_high', float('nan')):+.4f}] | {j.get('max_abs_change', float('nan')):.4f} | "
                f"{j.get('auc_half_width', float('nan')):.4f} | {j.get('accepted')} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="efficientnet-lite0,resnet50")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--methods", default="gradient", help="comma-separated (random adds 8 orderings)")
    p.add_argument("--curve-steps", type=int, default=56)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--low", default="bfloat16", choices=("bfloat16", "float16"))
    p.add_argument("--check-every", type=int, default=4)
    p.add_argument("--label", default="run")
    p.add_argument("--out", type=Path, default=Path("bench/results/score-precision/run.json"))
    args = p.parse_args(argv)
    import tensorflow as tf

    report = {
        "label": args.label,
        "args": vars(args) | {"out": str(args.out)},
        "command": "python bench/bench_score_precision.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, flags {cpu_flags()}, "
        f"TensorFlow {tf.__version__}",
        "models": [measure(name, args) for name in args.models.split(",")],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=float))
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
