"""The report's view of one run: plain dataclasses holding what the store's cells say,
and the orders the report sorts variants and precisions in.

Nothing here computes a saliency map or a metric: every number is one a writer stored
(see the cell conventions in ``docs/ARCHITECTURE.md``). Units follow the store: seconds
of wall-clock time, MiB of memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.registry import BASELINE
from .video_section import VideoSeries, VideoStrip

__all__ = [
    "VARIANT_ORDER",
    "variant_order",
    "PRECISION_ORDER",
    "precision_order",
    "describe_key",
    "AgreementCell",
    "CurveCheck",
    "Failure",
    "GateRule",
    "GateVerdict",
    "MapExample",
    "RandomizationCheck",
    "ReportData",
    "RunInfo",
    "ScalarCheck",
    "TimingCell",
]


VARIANT_ORDER = ("eager", "function", "xla")


PRECISION_ORDER = ("float32", "bfloat16", "float16")


def precision_order(precision: str) -> tuple:
    """Sort key: float32 first, then the low precisions, then others by name."""
    known = precision in PRECISION_ORDER
    return (0, PRECISION_ORDER.index(precision), "") if known else (1, 0, precision)


def variant_order(variant: str) -> tuple:
    """Sort key putting the known variants in ``VARIANT_ORDER``, then others by name."""
    known = variant in VARIANT_ORDER
    return (0, VARIANT_ORDER.index(variant), "") if known else (1, 0, variant)


@dataclass(frozen=True)
class RunInfo:
    """Run metadata as stored: ``config`` and ``metadata`` are the store's dicts."""

    id: Any
    suite: str
    status: str
    started: Any
    finished: Any
    seed: Any
    config: dict
    metadata: dict


@dataclass(frozen=True)
class TimingCell:
    """One timing cell. Times in seconds, memory in MiB; ``None`` where not measured."""

    model: str
    variant: str
    batch_size: int
    device: str
    image_size: Any
    ok: bool
    reason: str | None
    median_s: float | None
    iqr_s: float | None
    images_per_s: float | None
    compile_s: float | None
    first_call_s: float | None
    peak_rss_mb: float | None
    peak_device_mb: float | None
    retraces: int | None
    flops_per_image: float | None
    roof_fraction: float | None = None
    """FLOP rate over the run's best roof on the device (``harness.roofs.best_roofs``)."""
    precision: str = "float32"
    """The network's precision (a key without ``precision`` is float32)."""
    fidelity: dict | None = None
    """Low precision: the maps against float32 (``saliency_core.fidelity``), summary only."""


@dataclass(frozen=True)
class AgreementCell:
    """One variant against eager (``agreement`` cell): relative L2 of the input
    gradients as computed and with the units near a kink pinned; float32's noise
    floor on the same images (eager float32 vs float64, pinned); how far pinning moved
    eager's own gradients; and the verdict (None in cells written before it existed)."""

    model: str
    variant: str
    device: str
    rel_l2: float | None
    flips: int | None
    kink_units: int | None
    pinned_rel_l2: float | None
    images: int | None
    floor_pinned_rel_l2: float | None = None
    pinning_moved: float | None = None
    agrees: bool | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    """A cell that failed: its kind, a readable key and the writer's reason."""

    kind: str
    key: str
    reason: str


@dataclass(frozen=True)
class MapExample:
    """An example saliency map: ``image`` (H, W, 3) uint8 input, ``map`` (H, W) raw values."""

    model: str
    method: str
    image_name: str
    class_name: str
    target: Any
    probability: float | None
    variant: str
    score: str
    reduce: str
    image: np.ndarray
    map: np.ndarray


@dataclass(frozen=True)
class ScalarCheck:
    """One check result: the metric's aggregate ``value`` and which way is better."""

    model: str
    data: str
    method: str
    metric: str
    ok: bool
    value: float | None
    direction: str
    config: dict
    control: bool = False  # a model-independent control method
    chance: bool = False  # the chance baseline (random ordering) margins compare against
    low: float | None = None  # confidence interval of value
    high: float | None = None


@dataclass(frozen=True)
class CurveCheck:
    """A deletion/insertion-style result: ``fractions`` (S,) of pixels changed and
    ``curves`` (N, S) of the model's score per image; ``value`` is the stored AUC."""

    model: str
    data: str
    method: str
    metric: str
    value: float | None
    direction: str
    fractions: np.ndarray
    curves: np.ndarray
    control: bool = False
    chance: bool = False
    axis: str = "Fraction of pixels perturbed"


@dataclass(frozen=True)
class RandomizationCheck:
    """A model-randomisation result: ``similarity`` (steps, measures) between the
    original map and the map after randomising ``layers[:step + 1]``; ``step_maps``
    (steps + 1, H, W), index 0 the original model, for one image, or ``None``."""

    model: str
    data: str
    method: str
    metric: str
    layers: list[str]
    measures: list[str]
    similarity: np.ndarray
    step_maps: np.ndarray | None
    mode: str = ""


@dataclass(frozen=True)
class GateRule:
    """One rule of a gate policy and whether the run met it."""

    rule: str
    method: str
    metric: str
    value: Any
    op: str
    threshold: Any
    passed: bool
    why: str
    verdict: str = ""  # pass | fail | inconclusive | error
    low: float | None = None  # the value's confidence interval
    high: float | None = None
    images_needed: int | None = None


@dataclass(frozen=True)
class GateVerdict:
    """A gate's verdict for one model on one data set under one policy."""

    model: str
    data: str
    policy: str
    passed: bool
    rules: list[GateRule]
    verdict: str = ""


@dataclass(frozen=True)
class ReportData:
    """Everything a renderer needs, in store order made deterministic (sorted)."""

    run: RunInfo
    timings: list[TimingCell]
    failures: list[Failure]
    maps: list[MapExample]
    checks: list[ScalarCheck]
    curves: list[CurveCheck]
    randomization: list[RandomizationCheck]
    gates: list[GateVerdict]
    baseline: str = BASELINE
    protocols: dict = field(default_factory=dict)
    agreements: list[AgreementCell] = field(default_factory=list)
    video: list[VideoSeries] = field(default_factory=list)
    strips: list[VideoStrip] = field(default_factory=list)


def describe_key(key: dict) -> str:
    """A cell key as ``name=value`` pairs in key order, for tables and captions."""
    return ", ".join(f"{k}={v}" for k, v in key.items())
