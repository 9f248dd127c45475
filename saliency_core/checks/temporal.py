"""Video metrics: temporal stability of saliency maps, and agreement with motion.

Both take the maps of consecutive frames of one video and return per-frame (or
per-pair) values; they are pure numpy and reuse the similarity measures of the
randomization tests (:mod:`saliency_core.checks.similarity`) and the relevance
mass of the localisation metrics (:mod:`saliency_core.checks.localisation`).

* :func:`temporal_stability`: how similar the maps of frames ``t`` and ``t + 1``
  are, next to how similar the frames themselves are. Consecutive frames of a
  video differ little, so an explanation of a stable prediction should too; the
  frames' own similarity is the reference of how much the input changed (a map
  less stable than its input flickers). The measures are those of Adebayo et al.
  2018; pairing each map comparison with its frame comparison is this project's
  protocol.
* :func:`motion_agreement`: per frame, the rank agreement of a map with the motion
  control's map (:mod:`saliency_core.methods.motion`) and, where the moving
  object's ground-truth masks are known (the bundled video), the fraction of the
  map's mass inside the mask, whose chance level is the mask's area fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .localisation import relevance_mass
from .similarity import Reference, check_measures, spearman_abs

__all__ = [
    "STABILITY_MEASURES",
    "MotionAgreement",
    "TemporalStability",
    "motion_agreement",
    "temporal_stability",
]

STABILITY_MEASURES = ("ssim", "spearman_abs")
"""Default measures of :func:`temporal_stability` (names in ``SIMILARITIES``)."""


@dataclass
class TemporalStability:
    """Similarity of consecutive maps and, as the reference, of consecutive frames.

    Attributes:
        maps: Measure name -> (T - 1,) similarity of maps ``t`` and ``t + 1``.
        frames: Measure name -> (T - 1,) the same measure between frames ``t`` and
            ``t + 1`` (their channel means), or None when no frames were given.
    """

    maps: dict[str, np.ndarray]
    frames: dict[str, np.ndarray] | None = None


@dataclass
class MotionAgreement:
    """Per-frame agreement of saliency maps with motion.

    Attributes:
        spearman: (T,) Spearman rank correlation of ``|map|`` with the motion map.
        mask_mass: (T,) fraction of ``|map|`` inside the moving object's mask, or
            None without masks.
        chance: (T,) each mask's area fraction, the mass a uniform map puts inside
            it, or None without masks.
    """

    spearman: np.ndarray
    mask_mass: np.ndarray | None = None
    chance: np.ndarray | None = None


def _sequence(maps, name: str) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"{name} must be (T, H, W) maps of consecutive frames, got shape {maps.shape}")
    if len(maps) < 2:
        raise ValueError(f"{name}: temporal stability needs at least 2 frames, got {len(maps)}")
    return maps


def _consecutive(series: np.ndarray, measures: tuple[str, ...]) -> dict[str, np.ndarray]:
    scores = Reference(series[:-1], measures).compare(series[1:])
    return {m: scores[i] for i, m in enumerate(measures)}


def temporal_stability(maps, frames=None, *, measures=STABILITY_MEASURES) -> TemporalStability:
    """Similarity of each consecutive pair of maps (and frames).

    Args:
        maps: (T, H, W) saliency maps of consecutive frames, T >= 2.
        frames: Optional (T, H, W, C) or (T, H, W) frames the maps explain; each is
            compared as its channel mean, with the same measures.
        measures: Names in :data:`~saliency_core.checks.similarity.SIMILARITIES`.

    Returns:
        A :class:`TemporalStability`; identical consecutive maps score exactly 1.
    """
    measures = check_measures(measures)
    maps = _sequence(maps, "maps")
    out = TemporalStability(_consecutive(maps, measures))
    if frames is not None:
        frames = np.asarray(frames, dtype=np.float64)
        if frames.ndim == 4:
            frames = frames.mean(axis=-1)
        if frames.shape != maps.shape:
            raise ValueError(f"frames have shape {frames.shape} (channel mean); the maps {maps.shape}")
        out.frames = _consecutive(frames, measures)
    return out


def motion_agreement(maps, motion, masks=None) -> MotionAgreement:
    """Per-frame agreement of saliency maps with motion.

    Args:
        maps: (T, H, W) saliency maps of a classifier (any sign and scale).
        motion: (T, H, W) motion maps of the same frames (method ``motion``).
        masks: Optional (T, H, W) bool masks of the moving object.

    Returns:
        A :class:`MotionAgreement`: Spearman of ``|maps|`` with ``|motion|``, and with
        masks, the relevance mass of ``maps`` inside them and its chance level.
    """
    maps, motion = np.asarray(maps, dtype=np.float64), np.asarray(motion, dtype=np.float64)
    if maps.ndim != 3 or maps.shape != motion.shape:
        raise ValueError(
            f"expected maps and motion maps of the same shape (T, H, W); got {maps.shape} and {motion.shape}"
        )
    out = MotionAgreement(spearman_abs(maps, motion))
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        out.mask_mass = relevance_mass(maps, masks)  # checks the shapes
        out.chance = masks.reshape(len(masks), -1).mean(axis=1)
    return out
