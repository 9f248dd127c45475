"""Protocol settings of a check run and their defaults: the one place they are written.

The command line (``check``, ``gate``), a suite's ``[checks]`` table and
:func:`~saliency_core.checks.run_checks` all start from these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..gradients import Precision, Score, Variant
from ..reduce import Reduction
from .perturbation import PRESETS, ROAD_FRACTIONS, CurveConfig
from .similarity import SIMILARITIES

__all__ = [
    "CheckSettings",
    "default_check_methods",
    "primary_method",
    "DEFAULT_VARIANT",
    "DEFAULT_PRECISION",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CURVE_STEPS",
    "DEFAULT_SYNTHETIC_IMAGES",
    "with_curve_steps",
]

DEFAULT_VARIANT: Variant = "function"
"""Checks' gradient and forward variant. On a CPU ``function`` measured about 20x faster
than ``xla`` for EfficientNet-Lite0 (forward 13 vs 226 ms/image at batch 8, XLA's CPU
depthwise convolutions), and the variants give the same maps."""

DEFAULT_PRECISION: Precision = "float32"
"""Checks' network precision. A low one (mixed bfloat16/float16) computes the maps and
scores the perturbed images with the network in that precision; scores and curves stay
float32."""

DEFAULT_BATCH_SIZE = 8
"""Images per compiled gradient call and perturbed images per scored chunk."""

DEFAULT_CURVE_STEPS = 56
"""Deletion/insertion steps. RISE moves 224 px per step at 224 x 224 (224 steps); every
4th point of those curves is the 56-step curve (same pixels moved), and on Lite0 with
the 7 photos its area differed by at most 0.001 for each of gradient, smoothgrad, edge
and random (margins over random were 0.015 and more), for a quarter of the forward passes."""

DEFAULT_SYNTHETIC_IMAGES = 16
"""Images of the synthetic set when none is said."""


@dataclass(frozen=True)
class CheckSettings:
    """Protocol settings of a check run; every cell records the ones it used.

    Attributes:
        deletion: Deletion-curve protocol (its ``chunk_size`` is replaced by the
            run's batch size).
        insertion: Insertion-curve protocol.
        road_fractions: Fractions of pixels removed at the ROAD curve points.
        road_noise: ROAD imputation noise, as a fraction of the input value range.
        curve_reduce: Channel reduction of the maps the curve and localisation
            metrics rank.
        randomization_reduce: Channel reduction of the maps compared by the
            randomization tests; a signed one ("sum") makes "spearman" and
            "spearman_abs" differ, as in Adebayo et al.
        score: What the gradient methods differentiate: "logit" or "probability".
        method_options: Per-method option overrides, ``{method: {option: value}}``.
        metric_settings: Per-metric setting overrides, ``{metric: {setting: value}}``.
        measures: Similarity measures of the randomization tests.
        step_maps_image: Index of the image whose maps at every randomization step
            are stored (artifact ``step_maps``), or None to store none.
        chance_orderings: Random orderings the chance baseline is averaged over (each
            its own seed; the first is the run seed), on metrics where its seed matters.
        confidence: Level of every confidence interval.
        resamples: Bootstrap resamples of every interval (at least 2,000).
        score_precision: Precision of the network when it scores deletion's and
            insertion's perturbed images: None (the run's precision), or "float32",
            "bfloat16", "float16" (maps stay in the run's precision). A low one is
            checked against float32 scoring in the same run
            (:mod:`~saliency_core.checks.score_precision`).
        score_check_every: With low-precision scoring, about one image in this many
            (chosen by content) is also scored in float32 to check it.
    """

    deletion: CurveConfig = PRESETS["rise-deletion"]
    insertion: CurveConfig = PRESETS["rise-insertion"]
    road_fractions: tuple[float, ...] = ROAD_FRACTIONS
    road_noise: float = 0.01
    curve_reduce: Reduction = "max_abs"
    randomization_reduce: Reduction = "sum"
    score: Score = "logit"
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    metric_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    measures: tuple[str, ...] = tuple(SIMILARITIES)
    step_maps_image: int | None = 0
    chance_orderings: int = 8
    confidence: float = 0.95
    resamples: int = 2000
    score_precision: Precision | None = None
    score_check_every: int = 4


def with_curve_steps(settings: CheckSettings, input_shape, curve_steps: int) -> CheckSettings:
    """``settings`` with deletion/insertion moving H*W/``curve_steps`` pixels per step."""
    if curve_steps < 1:
        raise ValueError(f"curve steps must be >= 1, got {curve_steps}")
    height, width = input_shape[:2]
    pixels = max(1, round(height * width / curve_steps))
    return dataclasses.replace(
        settings,
        deletion=dataclasses.replace(settings.deletion, pixels_per_step=pixels),
        insertion=dataclasses.replace(settings.insertion, pixels_per_step=pixels),
    )


def default_check_methods(*, chance_baseline: bool = True) -> list[str]:
    """The methods ``check`` runs unless told: those marked ``default_check``, gradient
    methods first (without the chance baseline when ``chance_baseline`` is False)."""
    from ..methods.base import METHODS

    chosen = [m for m in METHODS if m.default_check and (chance_baseline or not m.chance_baseline)]
    return [m.name for m in sorted(chosen, key=lambda m: m.kind != "attribution")]


def primary_method() -> str:
    """The method explained and gated when none is named (the one marked ``primary``)."""
    from ..methods.base import METHODS

    found = [m.name for m in METHODS if m.primary]
    if len(found) != 1:
        raise RuntimeError(f"exactly one method must be primary, found {found}")
    return found[0]
