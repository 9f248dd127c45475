"""``time``: an ad-hoc grid from the command line's options, timed into the results
store as a suite named ``time``; prints the results table (and writes JSON with
``--json``)."""

from __future__ import annotations

import json
import time

from .errors import CliError
from .run_command import timed_run
from .runs import open_store
from .timing_results import print_timing_results


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in str(item).split(",") if v]


def _ints(values: list[str], option: str) -> list[int]:
    try:
        return [int(v) for v in _split(values)]
    except ValueError:
        raise CliError(f"{option} takes integers, got {' '.join(values)}") from None


def cmd_time(args) -> int:
    from ..harness.suite_schema import SuiteError
    from ..harness.suites import parse_suite

    data = {
        "name": "time",
        "description": "saliency-bench time (ad hoc)",
        "models": _split(args.models),
        "variants": _split(args.variants),
        "precisions": _split(args.precisions),
        "batch_sizes": _ints(args.batch_sizes, "--batch-sizes"),
        "devices": _split([args.device]),
        "weights": args.weights,
        "seed": args.seed,
        "timing": {
            "min_repeats": args.repeats,
            "max_repeats": max(args.max_repeats, args.repeats),
            "budget_s": args.budget,
            "warmup": args.warmup,
        },
        "chunking": {"candidates": _ints(args.chunk_sizes, "--chunk-sizes")},
    }
    if args.image_size is not None:
        data["image_size"] = args.image_size
    try:
        suite = parse_suite(data, source="command line")
    except SuiteError as exc:
        raise CliError(str(exc)) from None
    with open_store(args.store) as store:
        start = time.perf_counter()
        run_id = timed_run(store, suite, args)
        args.timing_wall_s = time.perf_counter() - start
        if args.json:
            from ..store import export_json

            doc = export_json(store, run_id)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print_timing_results(args, store, run_id)
        if args.json:
            print(f"JSON written to {args.json}")
    return 0
