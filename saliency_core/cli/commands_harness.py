"""Timing subcommands: ``run`` (a suite) and ``time`` (an ad-hoc grid).

``run [SUITE]`` times a suite into the results store (``runner.run_suite`` does the
timing only), then runs each step of :func:`post_timing_steps` on the run: today
printing the results table; sanity checks and the report are added there.
Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from ..models.weights import RANDOM_WEIGHTS
from .errors import CliError
from .runs import open_store

__all__ = ["register", "default_store_path", "post_timing_steps", "print_timing_results", "timing_rows"]


def default_store_path() -> Path:
    """The results store used when ``--store`` is not given (``reports/results.sqlite``)."""
    from ..store import DEFAULT_STORE_PATH

    return Path(DEFAULT_STORE_PATH)


def _add_store(p) -> None:
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"results store file (default: {default_store_path()})",
    )


def _add_executor(p) -> None:
    p.add_argument(
        "--executor",
        default="local",
        choices=("local", "ray"),
        help="where cells run: this process (default) or a Ray cluster, each cell "
        "in a worker process of its own (one CPU cell per node at a time, "
        "one GPU per GPU cell); the store is written here",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join (default: start a local one); e.g. auto or ray://host:10001",
    )


def register(sub) -> None:
    """Add ``run`` and ``time`` to the ``saliency-bench`` parser."""
    p = sub.add_parser(
        "run",
        help="time a suite (default: quick) into the results store",
        description="Time every cell of a suite (a packaged name: quick, backbones, "
        "batch-sweep, or a TOML file), record each in the results store as it "
        "finishes, and print a results table. Failed cells (out of memory, "
        "missing weights) are recorded with their reason and the run goes on.",
    )
    p.add_argument(
        "suite",
        nargs="?",
        metavar="SUITE",
        help="packaged suite name or TOML file (default: quick; with --resume: the resumed run's suite)",
    )
    _add_store(p)
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="continue run RUN (id, unique prefix or 'latest'), skipping finished cells",
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: time again the cells stored as failed (e.g. after "
        "supplying a weights file); each new result replaces the failed one",
    )
    p.add_argument("--fresh-process", action="store_true", help="run each cell in a new Python process")
    _add_executor(p)
    p.set_defaults(func=cmd_run, uses_tensorflow=True)

    p = sub.add_parser(
        "time",
        help="time an ad-hoc grid of models x variants x batch sizes",
        description="Time saliency for each model x variant x batch size on one device, "
        "record the cells in the results store and print a table.",
    )
    p.add_argument(
        "--models",
        nargs="+",
        required=True,
        metavar="NAME",
        help="registry names, efficientnet-lite0 or model files (space or comma separated)",
    )
    p.add_argument(
        "--variants",
        nargs="+",
        default=["eager", "function", "xla"],
        metavar="V",
        help="eager, function, xla (default: all three)",
    )
    p.add_argument(
        "--precisions",
        nargs="+",
        default=["float32"],
        metavar="P",
        help="float32, bfloat16, float16 (default: float32). A low precision is "
        "mixed (the network computes in it) and its cells also record how far "
        "its maps are from float32's on the same images",
    )
    p.add_argument(
        "--batch-sizes",
        nargs="+",
        default=["1", "8"],
        metavar="N",
        help="images per timed call (default: 1 8)",
    )
    p.add_argument("--device", default="cpu", help="cpu, gpu or gpu:N (default: cpu)")
    p.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="S",
        help="build backbones at SxS (random or file weights); default: their own size",
    )
    p.add_argument(
        "--weights",
        default=RANDOM_WEIGHTS,
        help="backbone weights: random (default; timing only), imagenet, or a file; "
        "efficientnet-lite0 and model files keep their own weights",
    )
    p.add_argument("--repeats", type=int, default=5, metavar="N", help="fewest timed calls")
    p.add_argument("--max-repeats", type=int, default=50, metavar="N", help="most timed calls")
    p.add_argument(
        "--budget", type=float, default=2.0, metavar="S", help="least seconds of timed calls per cell"
    )
    p.add_argument("--warmup", type=int, default=1, metavar="N", help="untimed calls after the first call")
    p.add_argument(
        "--chunk-sizes",
        nargs="*",
        default=[],
        metavar="N",
        help="candidate chunk sizes: batches above the fastest are split (default: none)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random input images")
    p.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the run as pytest-benchmark JSON to FILE"
    )
    p.add_argument("--fresh-process", action="store_true", help="run each cell in a new Python process")
    _add_executor(p)
    _add_store(p)
    p.set_defaults(func=cmd_time, uses_tensorflow=True)


def post_timing_steps() -> list[Callable]:
    """Steps ``run`` performs after timing, in order, each ``step(args, store, run_id)``:
    the timing table, then (for suites with an ``[agreement]`` table) the variants
    against eager, then (for suites with a ``[checks]`` table) example maps and the
    sanity checks with the gate, then the report."""
    from .run_steps import record_agreement, record_maps, run_suite_checks, write_report

    return [print_timing_results, record_agreement, record_maps, run_suite_checks, write_report]


def _split(values: list[str]) -> list[str]:
    return [v for item in values for v in str(item).split(",") if v]


def _ints(values: list[str], option: str) -> list[int]:
    try:
        return [int(v) for v in _split(values)]
    except ValueError:
        raise CliError(f"{option} takes integers, got {' '.join(values)}") from None


def _executor(args):
    """The executor of ``--executor`` (None for local); CliError when it cannot start."""
    name = getattr(args, "executor", "local")
    if name == "local":
        return None
    from ..executors import get_executor

    try:
        return get_executor(name, address=args.ray_address)
    except (ImportError, ValueError, RuntimeError) as exc:
        raise CliError(f"--executor {name}: {exc}") from None


def _timed_run(store, suite, args) -> str:
    from ..harness.runner import run_suite
    from ..store import StoreError

    executor = _executor(args)
    try:
        return run_suite(
            suite,
            store,
            resume=getattr(args, "resume", None),
            progress=True,
            fresh_process=args.fresh_process,
            retry_failed=getattr(args, "retry_failed", False),
            executor=executor,
        )
    except (StoreError, ValueError) as exc:
        raise CliError(str(exc)) from None
    finally:
        if executor is not None:
            executor.close()


def cmd_run(args) -> int:
    from ..harness.suite_schema import SuiteError
    from ..harness.suites import load_suite

    if args.retry_failed and not args.resume:
        raise CliError("--retry-failed needs --resume RUN")
    suite = None
    if args.suite or not args.resume:
        try:
            suite = load_suite(args.suite or "quick")
        except SuiteError as exc:
            raise CliError(str(exc)) from None
    with open_store(args.store) as store:
        start = time.perf_counter()
        run_id = _timed_run(store, suite, args)
        args.timing_wall_s = time.perf_counter() - start
        args.gate_exit = 0
        for step in post_timing_steps():
            step(args, store, run_id)
    return args.gate_exit  # the gate's verdict (0 pass, 1 fail, 3 inconclusive), report written


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
        run_id = _timed_run(store, suite, args)
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


# --- the results table ---------------------------------------------------------------------


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


TABLE_HEADERS = [
    "model",
    "variant",
    "precision",
    "device",
    "batch",
    "size",
    "status",
    "images/s",
    "median s",
    "IQR s",
    "compile s",
    "roof %",
    "sal/fwd",
    "chunk",
    "RSS MiB",
    "dev MiB",
    "retraces",
    "cpu/wall",
    "reason",
]


def timing_rows(store, run_id: str) -> list[list[str]]:
    """One row per timing cell of the run (``TABLE_HEADERS`` columns).

    "roof %" divides by the best roof seen over the run on the cell's device
    (:func:`~saliency_core.harness.roofs.best_roofs`), not by the roof known when the
    cell ran.
    """
    from ..harness.flops import roof_fraction
    from ..harness.roofs import best_roofs
    from ..harness.cell_spec import key_precision

    roofs = best_roofs(store, run_id)
    rows = []
    for cell in store.cells(run_id, kind="timing"):
        k, m = cell.key, cell.metrics
        base = [
            k.get("model"),
            k.get("variant"),
            key_precision(k),
            k.get("device"),
            str(k.get("batch_size")),
            str(k.get("image_size")),
            cell.status,
        ]
        if cell.status != "ok":
            reason = cell.reason or ""
            rows.append(base + ["-"] * 11 + [reason if len(reason) <= 70 else reason[:67] + "..."])
            continue
        roof = roof_fraction(m.get("flops_per_image"), m.get("images_per_s"), roofs.get(k.get("device")))
        chunk = m.get("chunk_size")
        rows.append(
            base
            + [
                _fmt(m.get("images_per_s"), ".2f"),
                _fmt(m.get("median_s"), ".4f"),
                _fmt(m.get("iqr_s"), ".4f"),
                _fmt(m.get("compile_s"), ".2f"),
                _fmt(None if roof is None else 100 * roof, ".1f"),
                _fmt(m.get("saliency_forward_ratio"), ".2f"),
                str(chunk) if chunk and chunk < int(k.get("batch_size", 0)) else "-",
                _fmt(m.get("peak_rss_mb"), ".0f"),
                _fmt(m.get("peak_device_mb"), ".0f"),
                str(m.get("retraces", "-")),
                _fmt(m.get("process_cpu_per_wall"), ".2f"),
                "",
            ]
        )
    return rows


def print_timing_results(args, store, run_id: str) -> None:
    """Print the run's timing table and a summary (roof, failures, wall time) to stdout."""
    from ..harness.text_table import print_table

    run = store.get_run(run_id)
    rows = timing_rows(store, run_id)
    print_table(TABLE_HEADERS, rows, title=f"timing: suite {run.suite}, run {run.id} ({run.status})")
    from ..harness.roofs import best_roofs

    from ..harness.precision_compare import compare_precisions, precision_table

    low = compare_precisions(store, run_id)
    if low:
        print()
        print_table(
            *precision_table(low),
            title="low precision against float32 (maps of the same images; mean, worst image in brackets)",
        )
    starts = run.config.get("roofs") or {}
    failed = sum(1 for r in rows if r[TABLE_HEADERS.index("status")] != "ok")
    lines = []
    for device, best in best_roofs(store, run_id).items():
        start = starts.get(device)
        at_start = f" (at the start: {start:.1f})" if start and start < best else ""
        lines.append(f"roof {device}: {best:.1f} GFLOP/s, best seen in the run{at_start}")
    if lines:
        lines.append(f"  measured as: {run.config.get('roof_method', 'fp32 matrix product')}")
        lines.append("roof % = FLOPs of the forward + input-gradient passes x images/s / roof")
    lines.append(
        "cpu/wall = CPU seconds this process used per second of timed calls (about the "
        "cores it kept busy; lower than in a quiet run = other work held cores)"
    )
    lines.append(f"{len(rows)} cells, {failed} failed; store {store.path}, run {run.id}")
    wall = getattr(args, "timing_wall_s", None)
    if wall is not None:
        lines.append(f"timing wall time {wall:.1f} s")
    print("\n".join(lines))
