"""Gate verdicts with their intervals, and how the interval narrows with more images.

Runs the default policy's metrics once per model and data set for every method
(so every method's verdict comes from the same stored results), then decides each
method's gate from the store. Writes a Markdown table per data set and, for the
synthetic set, the width of each rule's interval at several image counts.

    python bench/bench_gate_intervals.py --out bench/results/gate-intervals
    python bench/bench_gate_intervals.py --sizes 7,32 --skip-lite0      # quick

Values, not timings: the numbers do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

METHODS = ["gradient", "smoothgrad", "edge", "random"]


def run(model_name, data_spec, images, seed, store_path):
    from saliency_core.checks import load_policy, run_checks
    from saliency_core.checks.gate import evaluate_policy
    from saliency_core.checks.settings import CheckSettings, with_curve_steps
    from saliency_core.data.check_data import load_check_data, load_check_model
    from saliency_core.store import ResultStore

    clf = load_check_model(model_name)
    data = load_check_data(data_spec, clf, images=images)
    policy = load_policy("default")
    settings = with_curve_steps(CheckSettings(), clf.input_shape, 56)
    start = time.perf_counter()
    with ResultStore(store_path) as store:
        run_id = store.start_run(
            "gate-intervals", config={"model": model_name, "data": data_spec, "images": images}, seed=seed
        )
        report = run_checks(
            clf,
            data.images,
            methods=METHODS,
            metrics=policy.metrics,
            seed=seed,
            data_name=data.name,
            store=store,
            run_id=run_id,
            masks=data.masks,
            image_names=data.names,
            variant="function",
            batch_size=8,
            settings=settings,
            progress=lambda line: print(line, flush=True),
        )
        store.finish_run(run_id)
    seconds = time.perf_counter() - start
    gates = {m: evaluate_policy(policy, report, method=m, seed=seed) for m in METHODS}
    return report, gates, seconds, run_id


def rows(report, gates):
    out = []
    for method, gate in gates.items():
        cells = []
        for r in gate.rules:
            iv = r.interval or {}
            ci = f" [{iv['low']:+.3f}, {iv['high']:+.3f}]" if iv else ""
            cells.append(f"{r.value:+.3f}{ci} {r.verdict}" if r.value is not None else r.verdict)
        out.append(f"| {method} | " + " | ".join(cells) + f" | **{gate.verdict.upper()}** |")
    return out


def table(title, report, gates, seconds, run_id):
    names = [r.rule.name for r in next(iter(gates.values())).rules]
    lines = [
        f"### {title}",
        "",
        f"run `{run_id}`, {seconds:.0f} s",
        "",
        "| method | " + " | ".join(names) + " | gate |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    return lines + rows(report, gates) + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench/results/gate-intervals"))
    p.add_argument("--sizes", default="7,32,128", help="synthetic image counts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-lite0", action="store_true")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "results.sqlite"
    md, doc = (
        [
            "# Gate verdicts with 95% intervals (default policy)",
            "",
            "Each cell: the rule's measured value (the paired difference to the random "
            "control for the two curve rules) [95% BCa interval over images] and its verdict.",
            "",
        ],
        {},
    )
    if not args.skip_lite0:
        report, gates, seconds, run_id = run("efficientnet-lite0", "photos", None, args.seed, store)
        md += table("EfficientNet-Lite0, 7 bundled photos", report, gates, seconds, run_id)
        doc["lite0-photos"] = {m: g.as_dict() for m, g in gates.items()}
    widths = [
        "",
        "### Interval width against the number of images (synthetic CNN, gradient)",
        "",
        "| images | "
        + " | ".join(
            r.name for r in __import__("saliency_core.checks", fromlist=["x"]).load_policy("default").rules
        )
        + " |",
        "|---|---|---|---|---|",
    ]
    for n in [int(s) for s in args.sizes.split(",")]:
        report, gates, seconds, run_id = run("synthetic-cnn", "synthetic", n, args.seed, store)
        md += table(f"Synthetic CNN, {n} held-out synthetic images", report, gates, seconds, run_id)
        doc[f"synthetic-{n}"] = {m: g.as_dict() for m, g in gates.items()}
        w = [
            f"{r.interval['high'] - r.interval['low']:.4f}" if r.interval else "-"
            for r in gates["gradient"].rules
        ]
        widths.append(f"| {n} | " + " | ".join(w) + " |")
    md += widths + [""]
    (args.out / "README.md").write_text("\n".join(md) + "\n")
    (args.out / "gates.json").write_text(json.dumps(doc, indent=2) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
