"""What the model-parameter randomization metrics share: running MPRT and reading its result."""

from __future__ import annotations

import numpy as np

from ..checks.randomization import mprt
from ..checks.similarity import SIMILARITIES
from ..jsonable import jsonable
from ..methods.base import options_record
from .base import MetricResult

__all__ = [
    "ADEBAYO",
    "MPRT_STATISTICS",
    "constant_map_warnings",
    "main_measure",
    "mprt_result",
    "run_mprt",
]

_NO_RANKS = (
    "a similarity to a constant map measures no rank association, so it cannot show "
    "that the maps changed (a float16 network whose activations underflow gives zero maps)"
)

ADEBAYO = (
    "Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018 (arXiv:1810.03292); "
    "similarity measures from github.com/adebayoj/sanity_checks_saliency"
)

MPRT_STATISTICS = tuple(f"{p}_{m}" for p in ("last_step", "mean") for m in SIMILARITIES)
"""``last_step_<measure>`` (mean over images at the last step) and ``mean_<measure>``
(mean over steps and images) for every similarity measure."""


def main_measure(measures, preferred: str = "spearman_abs") -> str:
    """The measure a metric's value reads: ``preferred`` when measured, else the first."""
    return preferred if preferred in measures else measures[0]


def constant_map_warnings(constant, *, labels=("the trained model", "the randomized model")) -> list[str]:
    """Warnings for constant maps (:func:`~saliency_core.checks.similarity.constant_maps`):
    ``constant`` is (states, N) bool, the reference state first (the trained model, or the
    top-1 class), then one row per compared state. Any constant map makes a gate rule on
    the result inconclusive, never passed."""
    constant = np.asarray(constant, bool)
    if constant.ndim != 2 or not constant.any():
        return []
    n, out = constant.shape[1], []
    if constant[0].any():
        out.append(f"{int(constant[0].sum())} of {n} maps of {labels[0]} are constant; {_NO_RANKS}")
    rest = constant[1:]
    if rest.any():
        steps = f" at {int(rest.any(axis=1).sum())} of {len(rest)} steps" if len(rest) > 1 else ""
        out.append(
            f"maps of {labels[1]} are constant{steps} ({int(rest[-1].sum())} of {n} images"
            f"{' at the last step' if len(rest) > 1 else ''}); {_NO_RANKS}"
        )
    return out


def run_mprt(ctx, method: str, **protocol):
    """:func:`~saliency_core.checks.randomization.mprt` on the context's classifier and
    images, with everything the randomization metrics share read from ``ctx`` (seed,
    variant, batch size, device, precision, the classes the maps explain, the settings'
    measures, reduction and score, the method's options, the run's clone of the model);
    ``protocol`` adds or overrides
    the rest (``mode``, ``order``, ``final_only``, ``explain_fn``, ``measures``)."""
    s = ctx.settings
    common = dict(
        method=method,
        seed=ctx.seed,
        variant=ctx.variant,
        batch_size=ctx.batch_size,
        measures=s.measures,
        targets=ctx.targets,
        reduce=s.randomization_reduce,
        score=s.score,
        options=ctx.options_for(method),
        device=ctx.device,
        keep_maps=s.step_maps_image is not None,
        precision=ctx.precision,
        clone=ctx.randomization_clone(),
    )
    return mprt(ctx.classifier, ctx.images, **{**common, **protocol})


def mprt_result(ctx, method: str, mode: str, *, final_only: bool = False) -> MetricResult:
    """Run :func:`~saliency_core.checks.randomization.mprt` in ``mode`` and summarise it
    (``final_only``: only the trained and the fully randomized model, one step)."""
    s = ctx.settings
    options = ctx.options_for(method)
    result = run_mprt(ctx, method, mode=mode, final_only=final_only)
    sim = np.asarray(result.similarity, np.float64)  # (steps, measures, N)
    main = main_measure(result.measures)
    j = result.measures.index(main)
    per_image = sim[-1, j] if mode == "cascading" else sim[:, j].mean(axis=0)
    per_image_statistics = {}
    for i, m in enumerate(result.measures):
        per_image_statistics[f"last_step_{m}"] = sim[-1, i]
        per_image_statistics[f"mean_{m}"] = sim[:, i].mean(axis=0)
    config = {
        "mode": mode,
        "reduce": s.randomization_reduce,
        "score": s.score,
        "variant": ctx.variant,
        "precision": ctx.precision,
        "measures": list(result.measures),
        "seed": int(ctx.seed),
        "steps": len(result.blocks),
        "final_only": bool(final_only),
        "value_measure": main,
        "value": (
            f"mean over images of {main} between the trained and the fully "
            "randomized model (last cascading step)"
            if mode == "cascading"
            else f"mean over steps and images of {main}"
        ),
        "initialisation": "each layer's own Keras initializer, seeded per variable "
        "from the run seed (layer_seed)",
        "method_options": options_record(options),
    }
    extra = {
        "layers": list(result.blocks),
        "measures": list(result.measures),
        "layer_names": result.layers,
        "targets": result.targets.tolist(),
        "traces": int(result.traces),
        "skipped": list(result.skipped),
        "timings": jsonable(result.timings),
    }
    artifacts = {"similarity": sim}  # (steps, measures, N); the report shows the image mean
    if result.maps is not None and s.step_maps_image is not None:
        index = min(int(s.step_maps_image), result.maps.shape[1] - 1)
        artifacts["step_maps"] = np.asarray(result.maps[:, index], np.float32)
        config["step_maps_image"] = index
    return MetricResult(
        per_image=per_image,
        per_image_statistics=per_image_statistics,
        config=config,
        extra=extra,
        artifacts=artifacts,
        warnings=constant_map_warnings(result.constant) if result.constant is not None else [],
    )
