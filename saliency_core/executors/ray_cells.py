"""Timing cells of a suite on a Ray cluster, each in a new worker process.

:meth:`RayExecutor.run_cells <saliency_core.executors.ray.RayExecutor.run_cells>`
(``saliency-bench run SUITE --executor ray``) sends each pending cell of a run as a
Ray task that runs in a worker process of its own (``max_calls=1``, like
``--fresh-process``) through the same entry as the fresh-process worker,
:func:`saliency_core.harness.cell_worker.run_cell`, on a scratch store. The cells it
records there (the ``timing`` cell, and the ``flops`` and ``chunk`` cells it needed)
are sent back, and the driver records them: it is the only writer of the store.

Placement, so that no two timing cells share a device:

* A CPU cell is pinned to one node (``NodeAffinitySchedulingStrategy``, not soft)
  and asks for all of that node's CPUs; the driver sends one CPU cell per node at a
  time. No other timing cell, and no other Ray work that asks for CPUs, runs on the
  node's cores while it is timed.
* A GPU cell asks for one GPU and one CPU: Ray gives it a GPU that no other task
  holds, which the worker sees as GPU 0 (the cell keeps the suite's device name in its
  key). On a cluster without GPUs, GPU cells run like CPU cells and fail there with
  the device's reason, as they do in one process.

A worker process that dies (killed, out of memory) or a task Ray cannot run becomes
a failed cell with the reason; ``--resume`` skips, and ``--retry-failed`` re-times,
cells as it does without Ray. The roof passed to a cell is the driver's best for the
device, re-sampled on the worker (one roof per device name, also across nodes).
"""

from __future__ import annotations

import collections
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["run_cells", "time_cell_task"]

log = logging.getLogger(__name__)

_HELPER_KINDS = ("flops", "chunk", "timing")
_WORKER_DEVICE = "gpu:0"


def _renamed(key: dict, old: str, new: str) -> dict:
    return {**key, "device": new} if key.get("device") == old else key


def time_cell_task(
    suite_dict: dict,
    spec_dict: dict,
    *,
    device: str,
    roof: float | None,
    resample_roof: bool,
    retry_failed: bool,
    known: list[dict],
) -> list[dict]:
    """Time one cell in this process on a scratch store; return the cells it recorded.

    Args:
        suite_dict, spec_dict: The suite (``Suite.to_dict``) and the cell's ``CellSpec`` fields.
        device: The device name to time on in this process (a Ray GPU is ``gpu:0``);
            returned keys carry the suite's name again.
        roof, resample_roof, retry_failed: As for
            :func:`~saliency_core.harness.cell_worker.run_cell`.
        known: The run's ``flops``, ``chunk`` and ``timing`` cells of this model, as
            dicts (``kind, key, status, metrics, reason``), so the cell reuses them.

    The timing cell's metrics get ``ray_worker``: ``{node_id, pid, started, finished}``
    (Unix times of this task), where and when it was timed.
    """
    started = time.time()
    from ..harness.cell_worker import prepare_process, run_cell

    prepare_process()
    from ..devices import configure_gpus
    from ..harness.cell_spec import CellSpec
    from ..harness.suites import Suite
    from ..store import ResultStore

    configure_gpus()
    suite = Suite.from_dict(suite_dict)
    named = CellSpec(**spec_dict)
    spec = CellSpec(**{**spec_dict, "device": device})
    with (
        tempfile.TemporaryDirectory(prefix="saliency-cell-") as folder,
        ResultStore(Path(folder) / "cell.sqlite") as scratch,
    ):
        run = scratch.start_run(suite.name, config={}, metadata={})
        given = {
            scratch.record_cell(
                run,
                c["kind"],
                _renamed(c["key"], named.device, device),
                status=c["status"],
                metrics=c["metrics"],
                reason=c["reason"],
            )
            for c in known
        }
        run_cell(scratch, run, suite, spec, roof=roof, resample_roof=resample_roof, retry_failed=retry_failed)
        cells: list[dict[str, Any]] = [
            {
                "kind": c.kind,
                "key": _renamed(c.key, device, named.device),
                "status": c.status,
                "metrics": c.metrics,
                "reason": c.reason,
            }
            for c in scratch.cells(run)
            if c.id not in given
        ]
    worker = {"node_id": _node_id(), "pid": os.getpid(), "started": started, "finished": time.time()}
    for cell in cells:
        if cell["kind"] == "timing":
            cell["metrics"] = {**dict(cell["metrics"] or {}), "ray_worker": worker}
    return cells


def _node_id() -> str | None:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - not in a Ray worker
        return None


def _known_cells(store, run_id: str, model: str) -> list[dict]:
    return [
        {"kind": c.kind, "key": c.key, "status": c.status, "metrics": c.metrics, "reason": c.reason}
        for kind in _HELPER_KINDS
        for c in store.cells(run_id, kind=kind)
        if c.key.get("model") == model
    ]


def _cpu_nodes(ray) -> list[tuple[str, int]]:
    """(node id, whole CPUs) of every alive node with at least one CPU."""
    return [
        (n["NodeID"], int(n["Resources"].get("CPU", 0)))
        for n in ray.nodes()
        if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1
    ]


def run_cells(
    executor, store, run_id: str, suite, specs, roofs, *, retry_failed: bool = False
) -> Iterator[tuple]:
    """Time ``specs`` on the executor's Ray cluster; yield ``(spec, status)`` as each is
    recorded (``"skipped"`` for cells the run already has)."""
    from dataclasses import asdict

    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from ..devices import is_cpu
    from ..harness.cell_spec import cell_done
    from .ray import short_reason

    ray = executor.ray
    task = ray.remote(max_calls=1, max_retries=0)(time_cell_task)
    gpus = int(ray.cluster_resources().get("GPU", 0))
    cpu_queue: collections.deque = collections.deque()
    gpu_queue: collections.deque = collections.deque()
    for spec in specs:
        if cell_done(store, run_id, spec, retry_failed=retry_failed):
            yield spec, "skipped"
        else:
            (cpu_queue if is_cpu(spec.device) or not gpus else gpu_queue).append(spec)
    nodes = _cpu_nodes(ray) if cpu_queue else []
    if cpu_queue and not nodes:
        raise RuntimeError("the Ray cluster has no node with a CPU to time CPU cells on")
    running: dict = {}  # ref -> (spec, node id or None)
    suite_dict = suite.to_dict()

    def send(spec, device, **placement):
        return task.options(**placement).remote(
            suite_dict,
            asdict(spec),
            device=device,
            roof=_roof(roofs, spec.device),
            resample_roof=roofs.fixed is None,
            retry_failed=retry_failed,
            known=_known_cells(store, run_id, spec.model),
        )

    try:
        while cpu_queue or gpu_queue or running:
            busy = {node for _, node in running.values()}
            for node, cpus in nodes:
                if cpu_queue and node not in busy:
                    spec = cpu_queue.popleft()
                    ref = send(
                        spec,
                        spec.device,
                        num_cpus=cpus,
                        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=False),
                    )
                    running[ref] = (spec, node)
            while gpu_queue and sum(node is None for _, node in running.values()) < gpus:
                spec = gpu_queue.popleft()
                running[send(spec, _WORKER_DEVICE, num_gpus=1, num_cpus=1)] = (spec, None)
            [ref], _ = ray.wait(list(running), num_returns=1)
            spec, _ = running.pop(ref)
            try:
                cells = ray.get(ref)
            except ray.exceptions.RayError as exc:
                yield spec, _record_lost(store, run_id, spec, short_reason(exc), retry_failed)
                continue
            yield spec, _record(store, run_id, spec, cells, roofs, retry_failed)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)


def _roof(roofs, device: str) -> float | None:
    value = roofs.current(device)
    return None if value == "none" else float(value)


def _record(store, run_id: str, spec, cells: list[dict], roofs, retry_failed: bool) -> str:
    """Record what a cell task sent back; return the timing cell's status."""
    status = "skipped"
    for cell in cells:
        fields = dict(status=cell["status"], metrics=cell["metrics"], reason=cell["reason"])
        if cell["kind"] == "timing":
            store.record_cell(run_id, "timing", cell["key"], replace_failed=retry_failed, **fields)
            roofs.saw(spec.device, (cell["metrics"] or {}).get("roof_gflops"))
            status = cell["status"]
        elif not store.has_cell(run_id, cell["kind"], cell["key"]):  # another node's may be in
            store.record_cell(run_id, cell["kind"], cell["key"], **fields)
    return status


def _record_lost(store, run_id: str, spec, reason: str, retry_failed: bool) -> str:
    from ..harness.cell_spec import native_size

    key = spec.key(spec.image_size or native_size(spec.model))
    store.record_cell(
        run_id,
        "timing",
        key,
        status="failed",
        metrics={"error_type": "WorkerError"},
        reason=f"cell worker on Ray did not return the cell: {reason}",
        replace_failed=retry_failed,
    )
    log.warning("%s: %s", spec.label(), reason)
    return "failed"
