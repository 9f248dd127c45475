"""Compute the checks of one chunk of images: the unit of work every executor runs.

A check run is split into chunks of images. A :class:`ChunkWorker` holds what all
chunks share (the classifier, its compiled functions, the settings) and turns a
:class:`ChunkTask` (the chunk's images and the (method, metric) pairs still to do)
into a :class:`ChunkOutput` (per pair: a :class:`~saliency_core.metrics.MetricResult`
or the reason it failed). Every random draw is seeded per image (from the run seed
and the image's content) or per run, never by position, so a chunk's numbers do not
depend on the chunk size, on the other chunks, or on which process computed it.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Sequence, cast

import numpy as np

from ..gradients import Precision, Variant
from ..methods.base import METHODS
from ..metrics.base import METRICS, MetricResult
from ..metrics.context import CheckContext
from ..seeds import stable_seed
from .settings import CheckSettings

__all__ = ["CheckJob", "ChunkTask", "PairOutput", "ChunkOutput", "ChunkWorker", "combine_orderings"]

log = logging.getLogger(__name__)


@dataclass
class CheckJob:
    """What every chunk of one check run shares.

    Attributes:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`, or a
            callable returning one (a loader that a worker process can run).
        seed: Run seed.
        settings: Protocol settings.
        variant, batch_size, device: How gradients and forward passes run.
        networks: Trained networks for metrics that need them, or None.
        sequence: True when the images are consecutive video frames.
        precision: The network's precision for maps and scored perturbations.
    """

    classifier: Any
    seed: int
    settings: CheckSettings = field(default_factory=CheckSettings)
    variant: str = "function"
    batch_size: int = 8
    device: str | None = None
    networks: Any = None
    sequence: bool = False
    precision: Precision = "float32"


@dataclass
class ChunkTask:
    """One chunk: its images and the (method, metric) pairs to compute on them."""

    index: int
    images: np.ndarray
    names: list[str]
    pairs: list[tuple[str, str]]
    masks: np.ndarray | None = None
    targets: np.ndarray | None = None
    end: int = 0  # images read up to the end of this chunk (set by run_checks, for progress)


@dataclass
class PairOutput:
    """One (method, metric) on one chunk: its result, or why it failed."""

    method: str
    metric: str
    result: MetricResult | None
    reason: str | None
    seconds: float
    warnings: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)


@dataclass
class ChunkOutput:
    index: int
    names: list[str]
    pairs: list[PairOutput]


class ChunkWorker:
    """Computes chunks of one :class:`CheckJob` (build once per process or device)."""

    def __init__(self, job: CheckJob):
        from ..models.classifier import as_classifier

        clf = job.classifier
        self.job = job
        self.classifier = as_classifier(clf() if callable(clf) and not hasattr(clf, "model") else clf)
        self._shared: CheckContext | None = None

    def __call__(self, task: ChunkTask) -> ChunkOutput:
        job = self.job
        ctx = CheckContext(
            classifier=self.classifier,
            images=np.asarray(task.images, dtype=self.classifier.dtype),
            seed=int(job.seed),
            settings=job.settings,
            variant=cast(Variant, job.variant),  # the Explainer checks it
            batch_size=job.batch_size,
            device=job.device,
            masks=task.masks,
            networks=job.networks,
            image_names=task.names,
            sequence=job.sequence,
            targets=task.targets,
            precision=job.precision,
        )
        if self._shared is not None:  # reuse the compiled functions of earlier chunks
            ctx._explainer, ctx._forward = self._shared._explainer, self._shared._forward
            ctx._forwards, ctx._clones = self._shared._forwards, self._shared._clones
        outputs = [self._pair(ctx, method, metric) for method, metric in task.pairs]
        self._shared = ctx
        # Reference cycles of a chunk's work are collected here, not at the collector's
        # thresholds. Measured when mprt still cloned the model per chunk (tiny CNN, 40
        # chunks: RSS +26 MiB without, +1 with); the clone is now one per check, and a
        # metric that builds Keras objects per chunk is still covered.
        gc.collect()
        return ChunkOutput(index=task.index, names=list(task.names), pairs=outputs)

    def _pair(self, ctx: CheckContext, method: str, name: str) -> PairOutput:
        from ..methods.base import options_record

        metric = METRICS.get(name)
        start = time.perf_counter()
        try:
            result = combine_orderings(_orderings(metric, ctx, method))
        except Exception as exc:  # recorded as failed; the other pairs go on
            log.debug("%s %s failed", method, name, exc_info=True)
            return PairOutput(method, name, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
        return PairOutput(
            method,
            name,
            result,
            None,
            time.perf_counter() - start,
            warnings=ctx.map_warnings(method),
            options=options_record(ctx.options_for(method)),
        )


def _orderings(metric, ctx: CheckContext, method: str) -> list[tuple[int, MetricResult]]:
    """The metric on ``method``; for the chance baseline, on each of its random orderings."""
    repeats = 1
    if METHODS.get(method).chance_baseline and metric.chance_orderings:
        repeats = max(1, int(ctx.settings.chance_orderings))
    seeds = [ctx.seed] + [stable_seed(ctx.seed, "ordering", k) for k in range(1, repeats)]
    return [
        (seed, metric.compute(ctx if k == 0 else ctx.with_seed(seed), method)) for k, seed in enumerate(seeds)
    ]


def combine_orderings(runs: Sequence[tuple[int, MetricResult]]) -> MetricResult:
    """Several orderings' results as one: per-image values averaged over orderings
    (each ordering's kept in ``extra``), summaries recomputed, artifacts of the first."""
    first = runs[0][1]
    if len(runs) == 1:
        return first
    per_ordering = np.stack([r.per_image for _, r in runs])
    stats = {
        k: np.mean([r.per_image_statistics[k] for _, r in runs], axis=0) for k in first.per_image_statistics
    }
    others = {
        k: float(np.mean([r.statistics[k] for _, r in runs])) for k in first.statistics if k not in stats
    }
    extra = dict(first.extra)
    if "score_check" in extra:  # the float32 reference of the averaged values: averaged too
        extra["score_check"] = {
            "float32_auc": np.mean([r.extra["score_check"]["float32_auc"] for _, r in runs], axis=0)
        }
    return MetricResult(
        per_image=per_ordering.mean(axis=0),
        value=float(np.mean([r.value for _, r in runs])),
        statistics=others,
        per_image_statistics=stats,
        config={
            **first.config,
            "orderings": {
                "count": len(runs),
                "seeds": [s for s, _ in runs],
                "combined": "per-image values averaged",
            },
        },
        extra={
            **extra,
            "per_ordering": per_ordering,
            "per_ordering_statistics": {
                k: np.stack([r.per_image_statistics[k] for _, r in runs]) for k in first.per_image_statistics
            },
        },
        artifacts=first.artifacts,
        warnings=list(dict.fromkeys(w for _, r in runs for w in r.warnings)),
    )
