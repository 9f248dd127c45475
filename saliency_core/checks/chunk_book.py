"""What a check run has done and what is left: its chunk cells and final cells.

The driver of :func:`~saliency_core.checks.check_runner.run_checks` keeps one
:class:`ChunkBook`: it says which (method, metric) pairs each chunk still needs, records
each chunk's outputs (``check-chunk`` cells, or memory without a store), and joins a
pair's chunks into its final ``check`` result with confidence intervals.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..jsonable import jsonable
from ..methods.base import METHODS
from ..metrics.base import METRICS, MetricResult
from ..stats.bootstrap import bootstrap_interval
from .results import CheckResult
from .score_precision import judge_scoring
from .settings import CheckSettings

__all__ = ["ChunkBook"]


class ChunkBook:
    """What is done and what is left: chunk cells in the store (or in memory), and the
    final cells. Chunks are read back from the store to form the final results."""

    def __init__(self, store, run_id, model, data, pairs):
        self.store, self.run_id, self.model, self.data = store, run_id, model, data
        self.pairs, self.final_cells, self.chunk_done = pairs, {}, set()
        self.memory: dict = {}
        self.names: dict[int, list[str]] = {}
        self.queue: list = []
        self.seconds: dict = {}
        if store is not None:
            for cell in store.cells(run_id, kind="check"):  # failed ones are tried again
                if cell.status == "ok" and (cell.key.get("model"), cell.key.get("data")) == (model, data):
                    self.final_cells[(cell.key["method"], cell.key["metric"])] = cell
            for cell in store.cells(run_id, kind="check-chunk"):
                k = cell.key
                if (k.get("model"), k.get("data")) == (model, data) and cell.status == "ok":
                    self.chunk_done.add((k["method"], k["metric"], int(k["chunk"])))
                    self.names[int(k["chunk"])] = list((cell.metrics or {}).get("names", []))
        self.todo = [p for p in pairs if p not in self.final_cells]

    def key(self, method, metric, chunk=None) -> dict:
        key = {"model": self.model, "data": self.data, "method": method, "metric": metric}
        return key if chunk is None else {**key, "chunk": int(chunk)}

    def todo_for(self, index: int) -> list[tuple[str, str]]:
        return [(m, k) for m, k in self.todo if (m, k, index) not in self.chunk_done]

    def send(self, task) -> None:
        self.queue.append(task)

    def skip_chunk(self, index: int, names: list[str]) -> None:
        self.names.setdefault(index, names)

    def record_chunk(self, task, out) -> None:
        self.names[task.index] = list(task.names)
        outputs: list[tuple]
        if isinstance(out, BaseException):
            reason = f"chunk {task.index}: {type(out).__name__}: {out}"
            outputs = [(m, k, None, reason, 0.0, [], {}) for m, k in task.pairs]
        else:
            outputs = [
                (p.method, p.metric, p.result, p.reason, p.seconds, p.warnings, p.options) for p in out.pairs
            ]
        for method, metric, result, reason, seconds, warnings, options in outputs:
            self.seconds[(method, metric)] = self.seconds.get((method, metric), 0.0) + seconds
            entry = _chunk_entry(result, reason, seconds, warnings, options, task.names)
            if self.store is None:
                self.memory[(method, metric, task.index)] = (entry, result)
            else:
                self.store.record_cell(
                    self.run_id,
                    "check-chunk",
                    self.key(method, metric, task.index),
                    status="ok" if result is not None else "failed",
                    reason=reason,
                    metrics=jsonable(entry, finite=True),
                    artifacts=result.artifacts if result is not None else None,
                    replace_failed=True,
                )
            self.chunk_done.add((method, metric, task.index))

    def _chunks(self, method, metric):
        """[(index, entry, MetricResult | None)] of one pair, in chunk order. From the
        store, the first chunk's artifacts are read whole and the later chunks' only
        where they hold one slice per image (``image_axes``): those are all that
        :meth:`~saliency_core.metrics.base.Metric.combine` keeps, and the others (a
        chunk's example maps) would add megabytes per chunk to the final join."""
        if self.store is None:
            items = [
                (i, *self.memory[(m, k, i)])
                for (m, k, i) in sorted(self.memory)
                if (m, k) == (method, metric)
            ]
            return items
        cells = sorted(
            (
                cell
                for cell in self.store.cells(self.run_id, kind="check-chunk")
                if (cell.key.get("model"), cell.key.get("data"), cell.key["method"], cell.key["metric"])
                == (self.model, self.data, method, metric)
            ),
            key=lambda cell: int(cell.key["chunk"]),
        )
        per_image = set(METRICS.get(metric).image_axes)
        out = []
        for n, cell in enumerate(cells):
            entry = dict(cell.metrics or {}, reason=cell.reason)
            result = None
            if cell.status == "ok":
                names = [a for a in self.store.artifact_names(cell.id) if n == 0 or a in per_image]
                result = _result_from_entry(entry, {a: self.store.artifact(cell.id, a) for a in names})
            out.append((int(cell.key["chunk"]), entry, result))
        return out

    def final(self, method, name, record, *, seed, settings) -> CheckResult:
        metric = METRICS.get(name)
        cell = self.final_cells.get((method, name))
        if cell is not None:
            return CheckResult.from_cell(cell)
        chunks = self._chunks(method, name)
        seconds = self.seconds.get((method, name), 0.0)
        failed = [(i, e) for i, e, r in chunks if r is None]
        base = dict(
            model=self.model,
            data=self.data,
            method=method,
            metric=name,
            direction=metric.direction,
            info=metric.describe(),
            seconds=seconds,
        )
        if failed or not chunks:
            reason = failed[0][1].get("reason") if failed else "no images were read"
            result = CheckResult(**base, status="failed", value=None, config=record, reason=reason)
            stored, artifacts = result.stored(), None
        else:
            combined = metric.combine([r for _, _, r in chunks])
            names = [n for i, e, _ in chunks for n in e.get("names", [])]
            warnings = list(
                dict.fromkeys([w for _, e, _ in chunks for w in e.get("warnings", [])] + combined.warnings)
            )
            result = _final_result(
                base,
                combined,
                record,
                names,
                warnings,
                chunks[0][1].get("options", {}),
                metric,
                method,
                seed=seed,
                settings=settings,
            )
            stored, artifacts = result.stored(), combined.artifacts
            stored.update(
                {
                    k: v
                    for k, v in combined.extra.items()
                    if k not in ("per_ordering", "per_ordering_statistics")
                }
            )
        if self.store is not None:
            self.store.record_cell(
                self.run_id,
                "check",
                self.key(method, name),
                status=result.status,
                reason=result.reason,
                artifacts=artifacts,
                metrics=jsonable(
                    {**stored, "method_info": _method_info(method), "chunks": len(chunks)}, finite=True
                ),
                replace_failed=True,
            )
        return result


def _chunk_entry(result, reason, seconds, warnings, options, names) -> dict:
    entry = {
        "names": list(names),
        "seconds": seconds,
        "warnings": list(warnings),
        "options": options,
        "reason": reason,
    }
    if result is not None:
        entry.update(
            per_image=result.per_image,
            value=result.value,
            statistics=result.statistics,
            per_image_statistics=result.per_image_statistics,
            config=result.config,
            extra=result.extra,
            result_warnings=result.warnings,
        )
    return entry


def _result_from_entry(entry: dict, artifacts: dict) -> MetricResult:
    extra = dict(entry.get("extra") or {})
    return MetricResult(
        per_image=np.asarray(entry["per_image"], np.float64),
        value=entry["value"],
        statistics=dict(entry.get("statistics") or {}),
        per_image_statistics={
            k: np.asarray(v, np.float64) for k, v in (entry.get("per_image_statistics") or {}).items()
        },
        config=dict(entry.get("config") or {}),
        extra=extra,
        artifacts=artifacts,
        warnings=list(entry.get("result_warnings") or []),
    )


def _interval(values, seed: int, settings: CheckSettings) -> dict | None:
    """A seeded bootstrap interval of the mean over images, or None when a value is not finite."""
    values = np.asarray(values, np.float64)
    if not values.size or not np.isfinite(values).all():
        return None
    iv = bootstrap_interval(values, confidence=settings.confidence, n_resamples=settings.resamples, seed=seed)
    return dataclasses.asdict(iv)


def _final_result(
    base, out: MetricResult, record, names, warnings, options, metric, method, *, seed, settings
) -> CheckResult:
    if not np.isfinite(out.per_image).all():
        warnings.append(
            f"{int((~np.isfinite(out.per_image)).sum())} of {len(out.per_image)} "
            "per-image values are not finite"
        )
    config = jsonable(
        {
            **out.config,
            "run": record,
            "method": method,
            "method_options": options,
            "images": names,
            "reference": metric.reference,
        }
    )
    intervals = {
        "value": _interval(out.per_image, seed, settings),
        **{k: _interval(v, seed, settings) for k, v in out.per_image_statistics.items()},
    }
    check = (out.extra or {}).get("score_check")
    if check is not None:
        judgement, warning = judge_scoring(
            out.per_image,
            check["float32_auc"],
            intervals["value"],
            precision=str(out.config.get("score_precision")),
            seed=seed,
            confidence=settings.confidence,
            resamples=settings.resamples,
        )
        config["score_check"] = jsonable(judgement)
        if warning:
            warnings.append(warning)
    assert out.value is not None  # MetricResult fills it in
    return CheckResult(
        **base,
        status="ok",
        value=float(out.value),
        per_image=jsonable(out.per_image),
        statistics=jsonable(out.statistics),
        config=config,
        per_image_statistics=jsonable(out.per_image_statistics),
        intervals=jsonable(intervals, finite=True),
        warnings=warnings,
        per_ordering=jsonable(out.extra.get("per_ordering")),
        per_ordering_statistics=jsonable(out.extra.get("per_ordering_statistics")),
    )


def _method_info(method: str) -> dict:
    unit = METHODS.get(method)
    return {"kind": unit.kind, "chance_baseline": unit.chance_baseline}
