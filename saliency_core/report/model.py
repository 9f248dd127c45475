"""The report's view of one run: the store's cells read into plain dataclasses.

This is the only report module that talks to the store. Nothing here computes a
saliency map or a metric: every number is one a writer stored (see the cell
conventions in ``docs/ARCHITECTURE.md``); the report only picks, groups and sorts.
Units follow the store: seconds of wall-clock time, MiB of memory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.registry import BASELINE
from .video import VideoSeries, VideoStrip, read_video_cell

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
    "load_report_data",
]

log = logging.getLogger(__name__)

CURVE_ARTIFACTS = ("fractions", "curves")
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


def _num(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def describe_key(key: dict) -> str:
    """A cell key as ``name=value`` pairs in key order, for tables and captions."""
    return ", ".join(f"{k}={v}" for k, v in key.items())


def _artifacts(store, cell) -> set[str]:
    return set(store.artifact_names(cell.id))


def _timing(cell) -> TimingCell:
    k, m = cell.key, cell.metrics or {}
    return TimingCell(
        model=str(k.get("model")),
        variant=str(k.get("variant")),
        batch_size=_int(k.get("batch_size")) or 0,
        device=str(k.get("device")),
        image_size=k.get("image_size"),
        ok=cell.status == "ok",
        reason=cell.reason,
        median_s=_num(m.get("median_s")),
        iqr_s=_num(m.get("iqr_s")),
        images_per_s=_num(m.get("images_per_s")),
        compile_s=_num(m.get("compile_s")),
        first_call_s=_num(m.get("first_call_s")),
        peak_rss_mb=_num(m.get("peak_rss_mb")),
        peak_device_mb=_num(m.get("peak_device_mb")),
        retraces=_int(m.get("retraces")),
        flops_per_image=_num(m.get("flops_per_image")),
        precision=str(k.get("precision", "float32")),
        fidelity=_fidelity(m.get("fidelity")),
    )


def _fidelity(value) -> dict | None:
    """The stored fidelity summary (numbers only; per-image lists left in the store)."""
    if not isinstance(value, dict):
        return None
    return {k: _num(v) for k, v in value.items() if k != "per_image" and not isinstance(v, dict)}


def _map_example(store, cell) -> MapExample | None:
    if cell.status != "ok" or not {"image", "map"} <= _artifacts(store, cell):
        return None
    k, m = cell.key, cell.metrics or {}
    return MapExample(
        model=str(k.get("model")),
        method=str(k.get("method")),
        image_name=str(k.get("image")),
        class_name=str(m.get("class_name", "")),
        target=m.get("target"),
        probability=_num(m.get("probability")),
        variant=str(m.get("variant", "")),
        score=str(m.get("score", "")),
        reduce=str(m.get("reduce", "")),
        image=np.asarray(store.artifact(cell.id, "image")),
        map=np.asarray(store.artifact(cell.id, "map"), dtype=np.float64),
    )


def _check_fields(cell) -> dict:
    k = cell.key
    return dict(
        model=str(k.get("model")),
        data=str(k.get("data")),
        method=str(k.get("method")),
        metric=str(k.get("metric")),
    )


def _gate(cell) -> GateVerdict:
    k, m = cell.key, cell.metrics or {}
    rules = []
    for r in m.get("rules", []):
        interval = r.get("interval") or {}
        verdict = str(r.get("verdict") or ("pass" if r.get("passed") else "fail"))
        rules.append(
            GateRule(
                rule=str(r.get("rule", "")),
                method=str(r.get("method", "")),
                metric=str(r.get("metric", "")),
                value=r.get("value"),
                op=str(r.get("op", "")),
                threshold=r.get("threshold"),
                passed=bool(r.get("passed")),
                why=str(r.get("why") or ""),
                verdict=verdict,
                low=_num(interval.get("low")),
                high=_num(interval.get("high")),
                images_needed=r.get("images_needed"),
            )
        )
    passed = cell.status == "ok" and bool(m.get("passed"))
    verdict = str(m.get("verdict") or ("pass" if passed else "error" if cell.status != "ok" else "fail"))
    return GateVerdict(
        model=str(k.get("model")),
        data=str(k.get("data")),
        policy=str(k.get("policy")),
        passed=passed,
        rules=rules,
        verdict=verdict,
    )


def _method_info(cell) -> dict:
    """The method's kind as stored with the cell; for cells written before the method
    metadata was stored, as the method registry says now."""
    info = (cell.metrics or {}).get("method_info")
    if isinstance(info, dict):
        return info
    from ..methods.base import METHODS

    name = str(cell.key.get("method"))
    if name not in METHODS:
        return {}
    unit = METHODS.get(name)
    return {"kind": unit.kind, "chance_baseline": unit.chance_baseline}


def _read_checks(store, cells, data: dict) -> None:
    for cell in cells:
        fields, m = _check_fields(cell), cell.metrics or {}
        direction = str(m.get("direction", ""))
        method = _method_info(cell)
        kinds: dict[str, Any] = dict(
            control=method.get("kind") == "control", chance=bool(method.get("chance_baseline"))
        )
        interval = (m.get("intervals") or {}).get("value") or {}
        data["checks"].append(
            ScalarCheck(
                **fields,
                ok=cell.status == "ok",
                value=_num(m.get("value")),
                direction=direction,
                config=dict(m.get("config") or {}),
                **kinds,
                low=_num(interval.get("low")),
                high=_num(interval.get("high")),
            )
        )
        if cell.status != "ok":
            continue
        if isinstance(m.get("config"), dict):
            data["protocols"].setdefault(fields["metric"], m["config"])
        names = _artifacts(store, cell)
        if set(CURVE_ARTIFACTS) <= names:
            fractions = np.asarray(store.artifact(cell.id, "fractions"), dtype=np.float64)
            curves = np.atleast_2d(np.asarray(store.artifact(cell.id, "curves"), dtype=np.float64))
            if fractions.ndim == 1 and curves.ndim == 2 and curves.shape[1] == fractions.size:
                axis = str((m.get("info") or {}).get("axis") or "Fraction of pixels perturbed")
                data["curves"].append(
                    CurveCheck(
                        **fields,
                        value=_num(m.get("value")),
                        direction=direction,
                        fractions=fractions,
                        curves=curves,
                        axis=axis,
                        **kinds,
                    )
                )
            else:
                log.warning(
                    "check cell %s: curves %s do not match fractions %s; not plotted",
                    cell.id,
                    curves.shape,
                    fractions.shape,
                )
        if "similarity" in names:
            similarity = np.asarray(store.artifact(cell.id, "similarity"), dtype=np.float64)
            if similarity.ndim == 3:  # (steps, measures, N) per image: show the image mean
                similarity = similarity.mean(axis=2)
            steps = "step_maps" in names and np.asarray(store.artifact(cell.id, "step_maps"))
            data["randomization"].append(
                RandomizationCheck(
                    **fields,
                    layers=[str(x) for x in m.get("layers", [])],
                    measures=[str(x) for x in m.get("measures", [])],
                    similarity=np.atleast_2d(similarity),
                    step_maps=steps if isinstance(steps, np.ndarray) and steps.ndim == 3 else None,
                    mode=str((m.get("config") or {}).get("mode", "")),
                )
            )
        series, strip = read_video_cell(store, cell, names, fields, m, kinds)
        if series is not None:
            data["video"].append(series)
        if strip is not None and not any(
            s.model == strip.model and s.data == strip.data and s.method == strip.method
            for s in data["strips"]
        ):
            data["strips"].append(strip)  # one strip per method (every temporal metric stores it)


def _with_roof_fractions(timings: list[TimingCell], store, run_id) -> list[TimingCell]:
    """Each cell's fraction of the best roof seen on its device over the run, the
    rule of every display (a roof sampled under load cannot inflate a fraction)."""
    from ..harness.flops import roof_fraction
    from ..harness.roofs import best_roofs

    roofs = best_roofs(store, run_id)
    return [
        dataclasses.replace(
            t, roof_fraction=roof_fraction(t.flops_per_image, t.images_per_s, roofs.get(t.device))
        )
        if t.ok
        else t
        for t in timings
    ]


def load_report_data(store, run_id) -> ReportData:
    """Read run ``run_id`` (an id, ``"latest"`` or a unique id prefix) of ``store``, a
    ``ResultStore``, into a :class:`ReportData`. The store's ``UnknownRunError``
    propagates when no run matches.
    """
    run = store.get_run(run_id)
    run_id = run.id
    info = RunInfo(
        id=run.id,
        suite=str(run.suite),
        status=str(run.status),
        started=run.started,
        finished=run.finished,
        seed=run.seed,
        config=dict(run.config or {}),
        metadata=dict(run.metadata or {}),
    )
    data: dict[str, Any] = {
        "timings": [],
        "failures": [],
        "maps": [],
        "checks": [],
        "curves": [],
        "randomization": [],
        "gates": [],
        "protocols": {},
        "agreements": [],
        "video": [],
        "strips": [],
    }
    cells = sorted(
        store.cells(run_id), key=lambda c: (c.kind, json.dumps(c.key, sort_keys=True, default=str))
    )
    for cell in cells:
        if cell.status != "ok":
            data["failures"].append(
                Failure(
                    kind=cell.kind,
                    key=describe_key(cell.key),
                    reason=str(cell.reason or "no reason recorded"),
                )
            )
        if cell.kind == "timing":
            data["timings"].append(_timing(cell))
        elif cell.kind == "maps":
            example = _map_example(store, cell)
            if example is not None:
                data["maps"].append(example)
        elif cell.kind == "gate":
            data["gates"].append(_gate(cell))
        elif cell.kind == "agreement" and cell.status == "ok":
            m = cell.metrics or {}
            raw_floor = m.get("noise_floor")
            floor = raw_floor if isinstance(raw_floor, dict) else {}
            data["agreements"].append(
                AgreementCell(
                    model=str(cell.key.get("model")),
                    variant=str(cell.key.get("variant")),
                    device=str(cell.key.get("device", "")),
                    rel_l2=_num(m.get("rel_l2")),
                    flips=_int(m.get("flips")),
                    kink_units=_int(m.get("kink_units")),
                    pinned_rel_l2=_num(m.get("pinned_rel_l2")),
                    images=len(m.get("images") or []) or None,
                    floor_pinned_rel_l2=_num(floor.get("pinned_rel_l2")),
                    pinning_moved=_num(m.get("pinning_moved")),
                    agrees=m.get("agrees") if isinstance(m.get("agrees"), bool) else None,
                    reasons=tuple(str(r) for r in m.get("reasons") or ()),
                )
            )
    _read_checks(store, [c for c in cells if c.kind == "check"], data)
    data["timings"] = _with_roof_fractions(data["timings"], store, run_id)
    data["timings"].sort(
        key=lambda t: (
            t.model,
            t.device,
            variant_order(t.variant),
            precision_order(t.precision),
            t.batch_size,
        )
    )
    data["maps"].sort(key=lambda e: (e.model, e.method, e.image_name))
    data["agreements"].sort(key=lambda a: (a.model, a.device, variant_order(a.variant)))
    return ReportData(run=info, **data)
