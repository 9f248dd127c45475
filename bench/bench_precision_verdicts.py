"""Do low-precision maps change the gate's verdicts? The default policy at each precision.

Runs the default policy's metrics once per network precision on the same model, images
and seed (``run_checks(precision=P)``: the network computes the maps in P, mixed, as
``saliency-bench gate --precision P`` does), with every perturbed image **scored in
float32** (``score_precision="float32"``), so what differs between the runs is the
maps' precision alone. The random control is recomputed in each run; its maps do not
depend on the network, so its values must come out the same at every precision (a
check of the set-up, printed). Then the gate per method and precision, and each rule's
value, interval and verdict beside float32's.

    python bench/bench_precision_verdicts.py --out bench/results/precision-verdicts

Values, not timings: the verdicts do not depend on the machine's load (the seconds do).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

PRECISIONS = ("float32", "float16", "bfloat16")


def run(args, precision, store_path):
    from saliency_core.checks import load_policy, run_checks
    from saliency_core.checks.gate import evaluate_policy
    from saliency_core.checks.settings import CheckSettings, with_curve_steps
    from saliency_core.data.check_data import load_check_data, load_check_model
    from saliency_core.store import ResultStore

    clf = load_check_model(args.model)
    data = load_check_data(args.data, clf, images=args.images)
    policy = load_policy("default")
    base = with_curve_steps(CheckSettings(), clf.input_shape, args.curve_steps)
    settings = dataclasses.replace(base, score_precision="float32")
    methods = [*args.methods, "random"]
    start = time.perf_counter()
    with ResultStore(store_path) as store:
        run_id = store.start_run(
            "precision-verdicts",
            config={"model": args.model, "data": args.data, "images": args.images, "precision": precision},
            seed=args.seed,
        )
        report = run_checks(
            clf,
            data.images,
            methods=methods,
            metrics=policy.metrics,
            seed=args.seed,
            data_name=data.name,
            store=store,
            run_id=run_id,
            image_names=data.names,
            variant="function",
            batch_size=args.batch_size,
            settings=settings,
            precision=precision,
            progress=lambda line: print(f"[{precision}] {line}", flush=True),
        )
        store.finish_run(run_id)
    seconds = time.perf_counter() - start
    gates = {m: evaluate_policy(policy, report, method=m, seed=args.seed) for m in methods}
    return {
        "run_id": run_id,
        "seconds": seconds,
        "gates": {
            m: {
                "verdict": g.verdict,
                "rules": [
                    {
                        "name": r.rule.name,
                        "value": r.value,
                        "interval": r.interval,
                        "verdict": r.verdict,
                        "reason": r.reason,
                    }
                    for r in g.rules
                ],
            }
            for m, g in gates.items()
        },
        "control_values": {
            metric: report.get("random", metric).value
            for metric in policy.metrics
            if report.get("random", metric) is not None
        },
    }


def _cell(rule: dict) -> str:
    if rule["value"] is None:
        return rule["verdict"]
    iv = rule["interval"] or {}
    ci = f" [{iv['low']:+.3f}, {iv['high']:+.3f}]" if iv else ""
    return f"{rule['value']:+.3f}{ci} {rule['verdict']}"


def markdown(results: dict, args) -> list[str]:
    ref = results["float32"]
    names = [r["name"] for r in next(iter(ref["gates"].values()))["rules"]]
    lines = [
        "| method | precision (maps) | " + " | ".join(names) + " | gate | changed vs float32 |",
        "|---|---|" + "---|" * (len(names) + 2),
    ]
    for method in [*args.methods, "random"]:
        for precision, res in results.items():
            gate = res["gates"][method]
            base = ref["gates"][method]
            changed = [
                r["name"] for r, b in zip(gate["rules"], base["rules"]) if r["verdict"] != b["verdict"]
            ]
            lines.append(
                f"| {method} | {precision} | "
                + " | ".join(_cell(r) for r in gate["rules"])
                + f" | **{gate['verdict'].upper()}** | "
                + (", ".join(changed) if precision != "float32" else "-")
                + (" (gate)" if precision != "float32" and gate["verdict"] != base["verdict"] else "")
                + " |"
            )
    lines += ["", "Random control's metric values per precision (the same maps: must agree):", ""]
    for precision, res in results.items():
        vals = ", ".join(f"{k} {v:.6f}" for k, v in res["control_values"].items() if v is not None)
        lines.append(f"- {precision}: {vals} (run `{res['run_id']}`, {res['seconds']:.0f} s)")
    return lines + [""]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="efficientnet-lite0")
    p.add_argument("--data", default="photos")
    p.add_argument("--images", type=int, default=None, help="default: every image of --data")
    p.add_argument("--methods", type=lambda s: s.split(","), default=["gradient"])
    p.add_argument("--precisions", type=lambda s: s.split(","), default=list(PRECISIONS))
    p.add_argument("--curve-steps", type=int, default=56)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("bench/results/precision-verdicts"))
    args = p.parse_args(argv)
    if args.precisions[0] != "float32":
        p.error("--precisions must start with float32 (the reference)")
    args.out.mkdir(parents=True, exist_ok=True)
    store_path = args.out / "results.sqlite"
    results = {}
    for precision in args.precisions:
        results[precision] = run(args, precision, store_path)
        (args.out / "verdicts.json").write_text(json.dumps(results, indent=1, default=float))
    text = "\n".join(markdown(results, args))
    (args.out / "verdicts.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
