"""``saliency-bench report``: render a stored run as HTML and/or Markdown.

Reads the results store only; re-rendering never recomputes a map or a metric.
"""

from __future__ import annotations

from pathlib import Path

from ..store.records import DEFAULT_STORE_PATH
from .errors import CliError

__all__ = ["register", "run_report"]


def register(sub) -> None:
    """Add this module's subcommands to the ``saliency-bench`` parser."""
    p = sub.add_parser(
        "report",
        help="render a stored run as HTML and/or Markdown",
        description="Render the report of a stored run from the results store alone.",
    )
    p.add_argument("run", metavar="RUN", help='run id, a unique id prefix, or "latest"')
    p.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="output directory (default: a folder named after the run id beside the store)",
    )
    p.add_argument(
        "--format",
        default="html,md",
        metavar="html,md",
        help="comma-separated formats to write (default: html,md)",
    )
    p.add_argument(
        "--store",
        metavar="PATH",
        type=Path,
        default=DEFAULT_STORE_PATH,
        help=f"results store file (default: {DEFAULT_STORE_PATH})",
    )
    p.set_defaults(func=run_report)


def run_report(args) -> int:
    """Render the report of ``args.run`` and print the written paths, one a line."""
    from ..report import FORMATS, render_report
    from ..store import ResultStore, StoreError

    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise CliError(
            f"--format: unknown format {', '.join(bad) or '(empty)'}; choose from {', '.join(FORMATS)}"
        )
    if not args.store.is_file():
        raise CliError(f"no results store at {args.store} (run `saliency-bench run` first, or pass --store)")
    try:
        with ResultStore(args.store) as store:
            run_id = store.resolve_run(args.run)
            out = args.out if args.out is not None else args.store.parent / run_id
            paths = render_report(store, run_id, out, formats)
    except StoreError as exc:
        raise CliError(str(exc)) from exc
    except OSError as exc:
        raise CliError(f"cannot write the report: {exc}") from exc
    for fmt in formats:
        print(paths[fmt])
    return 0
