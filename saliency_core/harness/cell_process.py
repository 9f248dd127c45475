"""Run one timing cell in a new Python process
(``python -m saliency_core.harness.cell_worker``) that writes its cell into the store, so
no cell inherits another's memory, caches or compiled code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict

from .cell_spec import CellSpec, cell_done, native_size
from .model_cells import find_cell
from .roofs import Roofs
from .suites import Suite


def run_in_worker(
    store, run_id: str, suite: Suite, spec: CellSpec, roofs: "Roofs", *, retry_failed: bool = False
) -> str:
    """Run one cell in ``python -m saliency_core.harness.cell_worker``; return its status."""
    expected = spec.image_size or native_size(spec.model)
    if cell_done(store, run_id, spec, retry_failed=retry_failed):
        return "skipped"
    cmd = [
        sys.executable,
        "-m",
        "saliency_core.harness.cell_worker",
        "--store",
        str(store.path),
        "--run",
        run_id,
        "--suite",
        json.dumps(suite.to_dict()),
        "--cell",
        json.dumps(asdict(spec)),
        "--roof",
        roofs.current(spec.device),
        "--resample-roof",
        "no" if roofs.fixed is not None else "yes",
    ]
    if retry_failed:
        cmd.append("--retry-failed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode == 130 or proc.returncode == -2:
        raise KeyboardInterrupt
    key = spec.key(expected)
    cell = find_cell(store, run_id, "timing", key) if expected is not None else None
    if cell is not None:
        roofs.saw(spec.device, cell.metrics.get("roof_gflops"))
        return cell.status
    tail = " ".join(proc.stderr.strip().splitlines()[-5:])[-400:]
    reason = f"cell worker exited with code {proc.returncode} without recording the cell: {tail}"
    store.record_cell(
        run_id,
        "timing",
        key,
        status="failed",
        metrics={"error_type": "WorkerError", "returncode": proc.returncode},
        reason=reason,
        replace_failed=retry_failed,
    )
    return "failed"
