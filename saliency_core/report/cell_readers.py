"""Readers of one kind of stored cell each (timing, check, gate, method info), into the
dataclasses of :mod:`.report_data`; they only pick, group and sort what a writer stored.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from .report_data import (
    CurveCheck,
    GateRule,
    GateVerdict,
    MapExample,
    RandomizationCheck,
    ScalarCheck,
    TimingCell,
)
from .video_section import read_video_cell

log = logging.getLogger(__name__)


CURVE_ARTIFACTS = ("fractions", "curves")


def finite_or_none(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _artifacts(store, cell) -> set[str]:
    return set(store.artifact_names(cell.id))


def read_timing(cell) -> TimingCell:
    k, m = cell.key, cell.metrics or {}
    return TimingCell(
        model=str(k.get("model")),
        variant=str(k.get("variant")),
        batch_size=int_or_none(k.get("batch_size")) or 0,
        device=str(k.get("device")),
        image_size=k.get("image_size"),
        ok=cell.status == "ok",
        reason=cell.reason,
        median_s=finite_or_none(m.get("median_s")),
        iqr_s=finite_or_none(m.get("iqr_s")),
        images_per_s=finite_or_none(m.get("images_per_s")),
        compile_s=finite_or_none(m.get("compile_s")),
        first_call_s=finite_or_none(m.get("first_call_s")),
        peak_rss_mb=finite_or_none(m.get("peak_rss_mb")),
        peak_device_mb=finite_or_none(m.get("peak_device_mb")),
        retraces=int_or_none(m.get("retraces")),
        flops_per_image=finite_or_none(m.get("flops_per_image")),
        precision=str(k.get("precision", "float32")),
        fidelity=_fidelity(m.get("fidelity")),
    )


def _fidelity(value) -> dict | None:
    """The stored fidelity summary (numbers only; per-image lists left in the store)."""
    if not isinstance(value, dict):
        return None
    return {k: finite_or_none(v) for k, v in value.items() if k != "per_image" and not isinstance(v, dict)}


def read_map_example(store, cell) -> MapExample | None:
    if cell.status != "ok" or not {"image", "map"} <= _artifacts(store, cell):
        return None
    k, m = cell.key, cell.metrics or {}
    return MapExample(
        model=str(k.get("model")),
        method=str(k.get("method")),
        image_name=str(k.get("image")),
        class_name=str(m.get("class_name", "")),
        target=m.get("target"),
        probability=finite_or_none(m.get("probability")),
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


def read_gate(cell) -> GateVerdict:
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
                low=finite_or_none(interval.get("low")),
                high=finite_or_none(interval.get("high")),
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


def read_checks(store, cells, data: dict) -> None:
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
                value=finite_or_none(m.get("value")),
                direction=direction,
                config=dict(m.get("config") or {}),
                **kinds,
                low=finite_or_none(interval.get("low")),
                high=finite_or_none(interval.get("high")),
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
                        value=finite_or_none(m.get("value")),
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


def with_roof_fractions(timings: list[TimingCell], store, run_id) -> list[TimingCell]:
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
