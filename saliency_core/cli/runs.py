"""Store runs as the commands use them: open the store, a run that is always finished,
and the ``--json`` file."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

from ..jsonable import dumps
from .errors import CliError

__all__ = ["open_store", "store_run", "write_json"]


def open_store(path: Path | None, *, must_exist: bool = False):
    """The results store at ``path`` (default ``reports/results.sqlite``); CliError if
    unusable, or (``must_exist``) if there is none yet."""
    from ..store import DEFAULT_STORE_PATH, ResultStore, StoreError

    if must_exist and not Path(path or DEFAULT_STORE_PATH).is_file():
        raise CliError(
            f"no results store at {path or DEFAULT_STORE_PATH} (run a suite first, or pass --store)"
        )
    try:
        return ResultStore(path or Path(DEFAULT_STORE_PATH))
    except StoreError as exc:
        raise CliError(str(exc)) from None


@contextlib.contextmanager
def store_run(store, suite: str, config: dict, seed: int, *, run_id: str | None = None) -> Iterator[str]:
    """A store run (new, or ``run_id`` resumed) that is finished whatever happens:
    complete, interrupted or failed."""
    if run_id is None:
        run_id = store.start_run(suite=suite, config=config, seed=seed)
    print(f"run {run_id} ({suite}) in {store.path}", file=sys.stderr)
    status = "failed"
    try:
        yield run_id
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        store.finish_run(run_id, status=status)


def write_json(path: Path | None, doc: dict) -> None:
    """Write ``doc`` as strict JSON to ``path`` (nothing for None) and say where."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"JSON written to {path}")
