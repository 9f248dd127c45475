"""Store subcommands: ``runs`` (list), ``export`` (JSON/CSV) and ``compare``.

``RUN`` is a run id (``YYYYMMDD-HHMMSS-xxxx``), a unique prefix of one, or ``latest``.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..store.records import DEFAULT_STORE_PATH, StoreError
from .errors import CliError
from .runs import open_store

__all__ = ["register"]


def _add_store_option(parser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=DEFAULT_STORE_PATH,
        metavar="PATH",
        help=f"results store file (default: {DEFAULT_STORE_PATH})",
    )


def register(sub) -> None:
    """Add ``runs``, ``export`` and ``compare`` to the ``saliency-bench`` parser."""
    p = sub.add_parser("runs", help="list the runs in the results store")
    _add_store_option(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("export", help="export a run as pytest-benchmark JSON or as CSV")
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    p.add_argument(
        "--format",
        choices=("json", "csv"),
        default="json",
        help="json: pytest-benchmark layout (timing cells); csv: one row per cell",
    )
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    _add_store_option(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "compare",
        help="backbones against a baseline, or run B against run A",
        description="With one RUN: each backbone's images/s, compile time and peak memory "
        "as ratios to the baseline backbone on the same device, variant and "
        "batch size. With RUN and RUN_B: regressions of B against A (exit 1 "
        "when any), counted only when the median changes by more than the "
        "threshold and the runs' interquartile ranges do not overlap; then "
        "every check value, map and gate verdict of B beside A's (printed, not judged).",
    )
    p.add_argument("run", metavar="RUN", help="run id, unique prefix, or 'latest'")
    p.add_argument("run_b", metavar="RUN_B", nargs="?", help="second run to compare against RUN")
    p.add_argument(
        "--baseline",
        metavar="NAME",
        help="baseline backbone for the one-run comparison (resnet50 if not given)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        metavar="F",
        help="smallest relative change of the median that counts (0.10 = 10%%)",
    )
    _add_store_option(p)
    p.set_defaults(func=cmd_compare)


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turn store errors (unknown run id, ...) into one-line CLI errors."""
    try:
        yield
    except StoreError as exc:
        raise CliError(str(exc)) from exc


def cmd_runs(args) -> int:
    """List runs: id, suite, status, times, cell counts, commit."""
    from ..harness.text_table import print_table, runs_table

    with open_store(args.store, must_exist=True) as store, _store_errors():
        runs = store.list_runs()
        if not runs:
            print(f"no runs in {args.store}")
            return 0
        headers, rows = runs_table(store, runs)
    print_table(headers, rows, title=f"runs in {args.store}")
    return 0


def cmd_export(args) -> int:
    """Write one run as JSON (pytest-benchmark layout) or CSV."""
    from ..store.export import export_csv, export_json

    with open_store(args.store, must_exist=True) as store, _store_errors():
        if args.format == "json":
            text = json.dumps(export_json(store, args.run), indent=2) + "\n"
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(text, encoding="utf-8")
            else:
                sys.stdout.write(text)
        elif args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            export_csv(store, args.run, args.out)
        else:
            export_csv(store, args.run, sys.stdout)
    if args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    """Compare against a baseline backbone, or two runs; exit 1 on a regression."""
    import warnings

    from ..harness.baseline import SHARED_RSS_NOTE, baseline_table, compare_baseline, shared_process_rss
    from ..harness.machine_diff import MachineMismatchWarning
    from ..harness.timing_diff import compare_runs, diff_table
    from ..harness.text_table import print_table
    from ..harness.result_diff import compare_results, result_diff_table

    if args.run_b is not None and args.baseline is not None:
        raise CliError("--baseline applies to one run; give either RUN_B or --baseline")
    if args.threshold < 0:
        raise CliError(f"--threshold must be >= 0, got {args.threshold}")
    with open_store(args.store, must_exist=True) as store, _store_errors():
        if args.run_b is None:
            baseline = args.baseline or "resnet50"
            run = store.get_run(args.run)
            rows = compare_baseline(store, run.id, baseline=baseline)
            if not rows:
                raise CliError(f"run {run.id} has no timing cells")
            headers, body = baseline_table(rows, baseline)
            print_table(headers, body, title=f"run {run.id}: ratios to {baseline}")
            if shared_process_rss(run.config, {r.model for r in rows if r.peak_kind == "rss"}):
                print(f"note: {SHARED_RSS_NOTE}", file=sys.stderr)
            return 0
        run_a, run_b = store.get_run(args.run), store.get_run(args.run_b)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MachineMismatchWarning)
            diffs = compare_runs(store, run_a.id, run_b.id, threshold=args.threshold)
        results = compare_results(store, run_a.id, run_b.id)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if diffs or not results:
        headers, body = diff_table(diffs)
        print_table(
            headers, body, title=f"run {run_b.id} (B) against {run_a.id} (A), threshold {args.threshold:.0%}"
        )
    if results:
        headers, body = result_diff_table(results)
        changed = sum(r.same is False for r in results)
        print_table(
            headers,
            body,
            title=f"results of run {run_b.id} (B) against {run_a.id} (A): {changed} of {len(results)} differ",
        )
    regressions = [r for r in diffs if r.verdict == "regression"]
    if regressions:
        print(f"{len(regressions)} regression(s): {', '.join(r.name for r in regressions)}", file=sys.stderr)
        return 1
    return 0
