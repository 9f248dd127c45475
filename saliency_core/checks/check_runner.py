"""Run registered metrics for several methods and record each as a ``check`` cell.

:func:`run_checks` computes every requested metric (``saliency_core.metrics``) for
every requested method (``saliency_core.methods``) on one model and one data set, and
writes one ``check`` cell per (model, data, method, metric) to the results store as
soon as it finishes (see ``docs/ARCHITECTURE.md``, "Cell conventions"). A metric that
raises becomes a failed cell with its reason; the others go on. Cells already in the
run are read back instead of recomputed, so a resumed run only does the missing work.

Each metric's ``value``, ``per_image`` and ``statistics`` are defined in its own module.

Example::

    from saliency_core.checks import run_checks
    report = run_checks(clf, x, methods=["gradient", "random"], metrics=["deletion"],
                        seed=0, data_name="photos", variant="function")
    report.get("gradient", "deletion").value
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable, Iterable, Sequence

import numpy as np

from ..jsonable import jsonable
from ..methods.base import METHODS
from ..metrics.base import METRICS, default_metrics
from ..metrics.context import CheckContext
from .results import CheckReport, CheckResult
from .settings import CheckSettings

__all__ = ["run_checks", "selected_metrics", "chance_baseline", "check_needs"]

log = logging.getLogger(__name__)


def chance_baseline() -> str:
    """The registered method that is the chance baseline (a random ordering)."""
    found = [m.name for m in METHODS if m.chance_baseline]
    if len(found) != 1:
        raise RuntimeError(f"exactly one method must be the chance baseline, found {found}")
    return found[0]


def selected_metrics(specs: Iterable[str] | None, *, has_masks: bool) -> list[str]:
    """Registry names for ``specs``; None gives the default metrics (plus the
    localisation ones when the data has masks)."""
    if specs is None:
        return default_metrics(has_masks=has_masks)
    return list(dict.fromkeys(METRICS.canonical(s) for s in specs))


def check_needs(
    metrics: Sequence[str], *, has_masks: bool, has_networks: bool, sequence: bool = False
) -> None:
    """ValueError naming the metrics whose needs the data cannot meet."""
    for name in metrics:
        needs = METRICS.get(name).needs
        if "masks" in needs and not has_masks:
            raise ValueError(f"{name} needs ground-truth object masks (the synthetic data set has them)")
        if "networks" in needs and not has_networks:
            raise ValueError(
                f"{name} needs networks trained for it (run_checks(networks=...); "
                "on the command line: --model synthetic-cnn --data synthetic)"
            )
        if "sequence" in needs and not sequence:
            raise ValueError(f"{name} needs consecutive video frames (give a video as the data)")


def _settings_record(settings: CheckSettings, *, variant, batch_size, seed, precision) -> dict:
    record = dataclasses.asdict(settings)
    record.update(variant=variant, batch_size=int(batch_size), seed=int(seed), precision=precision)
    return jsonable(record)


def run_checks(
    classifier,
    images,
    *,
    methods: Sequence[str],
    metrics: Sequence[str],
    seed: int,
    data_name: str,
    store=None,
    run_id: str | None = None,
    masks=None,
    variant: str = "function",
    batch_size: int = 8,
    device: str | None = None,
    settings: CheckSettings = CheckSettings(),
    image_names: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
    networks=None,
    sequence: bool = False,
    targets=None,
    precision: str = "float32",
) -> CheckReport:
    """Compute each metric for each method; record each result as a ``check`` cell.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier` (or a Keras
            model, taken with its inputs as given).
        images: (N, H, W, C) in the classifier's input space.
        methods: Registered methods and controls.
        metrics: Registered metric names or aliases.
        seed: Run seed: method noise, the random control, the randomized weights, the
            random-logit class draw and the ROAD noise all derive from it.
        data_name: Name of the data set, the ``data`` of every cell key.
        store: A :class:`~saliency_core.store.ResultStore`; None records nothing.
        run_id: The store run to record into (required with ``store``).
        masks: (N, H, W) bool ground-truth object masks (metrics that need them).
        variant: Gradient and forward-pass variant; the maps are the same, the speed is not.
        batch_size: Images per compiled gradient call and perturbed images per forward call.
        device: "cpu", "gpu", "gpu:N" or None.
        settings: Protocol settings (and per-method options).
        image_names: Names of the images, recorded in each cell's config.
        progress: Called with one line per finished metric.
        networks: Trained networks for metrics that need them (data randomization).
        sequence: True when the images are consecutive video frames.
        targets: (N,) class ids to explain (and to score), or None for each image's top-1.
        precision: The network's precision ("float32", or mixed "bfloat16"/"float16")
            for the maps and the scored perturbations; scores stay float32.

    Returns:
        A :class:`CheckReport`, results in (method, metric) order.

    Raises:
        ValueError: unknown method or metric, a metric's needs not met (masks,
            networks, frames), masks that do not match the images, or ``store``
            without ``run_id``.
    """
    from ..models.classifier import as_classifier

    classifier = as_classifier(classifier)
    names = list(dict.fromkeys(METRICS.canonical(m) for m in metrics))
    methods = list(dict.fromkeys(METHODS.canonical(m) for m in methods))
    if not methods:
        raise ValueError(f"no methods given; choose from {', '.join(METHODS.names())}")
    if not names:
        raise ValueError("no metrics given")
    if store is not None and run_id is None:
        raise ValueError("run_id is required when recording into a store")
    images = np.asarray(images, dtype=classifier.dtype)
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        if masks.shape != images.shape[:3]:
            raise ValueError(f"masks must be (N, H, W) = {images.shape[:3]}, got {masks.shape}")
    check_needs(names, has_masks=masks is not None, has_networks=networks is not None, sequence=sequence)
    for method, values in settings.method_options.items():
        from ..methods.base import resolve_options

        resolve_options(METHODS.get(method), values)  # unknown options fail before any work

    record = _settings_record(
        settings, variant=variant, batch_size=batch_size, seed=seed, precision=precision
    )
    model, say = classifier.name, progress or (lambda line: None)
    report = CheckReport(
        model=model, data=data_name, seed=int(seed), results=[], run_id=run_id, settings=record
    )
    ctx = CheckContext(
        classifier=classifier,
        images=images,
        seed=int(seed),
        settings=settings,
        variant=variant,
        batch_size=batch_size,
        device=device,
        masks=masks,
        networks=networks,
        image_names=image_names,
        sequence=sequence,
        targets=None if targets is None else np.asarray(targets),
        precision=precision,
    )
    total, done = len(methods) * len(names), 0
    for method in methods:
        for name in names:
            done += 1
            metric = METRICS.get(name)
            key = {"model": model, "data": data_name, "method": method, "metric": name}
            cell = store.get_cell(run_id, "check", key) if store is not None else None
            if cell is not None:
                report.results.append(CheckResult.from_cell(cell))
                say(f"[{done}/{total}] {method} {name}: already in run {run_id}, skipped")
                continue
            result, artifacts, extra = _compute(metric, ctx, method, model, data_name, record)
            if store is not None:
                store.record_cell(
                    run_id,
                    "check",
                    key,
                    status=result.status,
                    reason=result.reason,
                    artifacts=artifacts,
                    metrics=jsonable(
                        {
                            "value": result.value,
                            "direction": result.direction,
                            "per_image": result.per_image,
                            "config": result.config,
                            "statistics": result.statistics,
                            "seconds": result.seconds,
                            "info": result.info,
                            "method_info": _method_info(method),
                            **extra,
                        }
                    ),
                )
            report.results.append(result)
            if result.ok:
                say(
                    f"[{done}/{total}] {method} {name}: {result.value:.4f} "
                    f"({result.direction} is better) in {result.seconds:.1f} s"
                )
            else:
                say(f"[{done}/{total}] {method} {name}: FAILED after {result.seconds:.1f} s: {result.reason}")
    return report


def _compute(metric, ctx: CheckContext, method: str, model: str, data: str, record: dict):
    """One metric for one method: (CheckResult, artifacts, extra stored metrics)."""
    info = metric.describe()
    start = time.perf_counter()
    try:
        out = metric.compute(ctx, method)
    except Exception as exc:  # recorded as a failed cell; the other metrics go on
        seconds = time.perf_counter() - start
        log.debug("%s %s failed", method, metric.name, exc_info=True)
        return (
            CheckResult(
                model=model,
                data=data,
                method=method,
                metric=metric.name,
                status="failed",
                value=None,
                direction=metric.direction,
                config=record,
                reason=f"{type(exc).__name__}: {exc}",
                seconds=seconds,
                info=info,
            ),
            {},
            {},
        )
    seconds = time.perf_counter() - start
    config = jsonable(
        {
            **out.config,
            "run": record,
            "method": method,
            "method_options": _options(ctx, method),
            "images": list(ctx.image_names) if ctx.image_names is not None else len(ctx.images),
            "reference": metric.reference,
        }
    )
    result = CheckResult(
        model=model,
        data=data,
        method=method,
        metric=metric.name,
        status="ok",
        value=float(out.value),
        direction=metric.direction,
        per_image=jsonable(out.per_image),
        statistics=jsonable(out.statistics),
        config=config,
        seconds=seconds,
        info=info,
    )
    return result, out.artifacts, out.extra


def _method_info(method: str) -> dict:
    unit = METHODS.get(method)
    return {"kind": unit.kind, "chance_baseline": unit.chance_baseline}


def _options(ctx: CheckContext, method: str) -> dict:
    from ..methods.base import options_record

    return options_record(ctx.options_for(method))
