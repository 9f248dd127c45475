"""Timing subcommands' parsers: ``run`` (a suite, :mod:`.run_command`) and ``time`` (an
ad-hoc grid, :mod:`.time_command`); and the default results store both use.
"""

from __future__ import annotations

from pathlib import Path

from ..models.weights import RANDOM_WEIGHTS
from .run_command import cmd_run
from .time_command import cmd_time

__all__ = ["register", "default_store_path"]


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
