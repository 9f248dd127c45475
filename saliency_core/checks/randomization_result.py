"""What the randomization tests return: per-step, per-measure similarities of
:func:`~.randomization.mprt` (``RandomizationResult``) and of
:func:`~.random_logit_test.random_logit` (``RandomLogitResult``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


__all__ = ["RandomizationResult", "RandomLogitResult"]


@dataclass
class RandomizationResult:
    """Similarity between the trained model's maps and each randomized model's.

    Attributes:
        mode: "cascading" or "independent".
        order: "top_down" or "bottom_up": the step order of the blocks.
        method: Saliency method or control the maps came from.
        seed: Run seed (randomized weights and the method's own randomness).
        blocks: Block names in step order (output side first for "top_down"; one
            :data:`ALL_LAYERS` step with ``final_only``).
        layers: Layer names randomized at each step's block.
        measures: Similarity measure names (see :data:`similarity.SIMILARITIES`).
        similarity: (steps, measures, N): ``similarity[k, j, i]`` compares image
            ``i``'s map from the trained model with step ``k``'s, under measure ``j``.
        targets: (N,) class ids the maps explain (fixed across steps).
        maps: (steps + 1, N, H, W) float32 maps, trained model first; None if not kept.
        traces: Traces of the compiled gradient function during the run (1 for
            "function"/"xla", 0 for eager; 0 when a reused clone had traced for
            this image shape before).
        skipped: Variable paths left trained (no initializer found).
        constant: (steps + 1, N) bool: which maps were constant (one value
            everywhere; :func:`~.similarity.constant_maps`), trained model first; None
            when not recorded.
        timings: Wall-clock seconds: ``setup_s`` (clone + explainer), ``original_s``
            (first maps, includes tracing/compilation), ``reference_s`` (the trained
            maps' ranks and features), per-step lists ``assign_s``, ``explain_s``,
            ``similarity_s`` (scored on a worker thread, overlapping the next step's
            maps), ``steps_s`` (all steps, wall clock) and ``total_s``.
    """

    mode: str
    method: str
    seed: int
    blocks: list[str]
    layers: list[list[str]]
    measures: tuple[str, ...]
    similarity: np.ndarray
    targets: np.ndarray
    maps: np.ndarray | None
    traces: int
    skipped: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    order: str = "top_down"
    constant: np.ndarray | None = None

    def mean(self) -> np.ndarray:
        """(steps, measures) mean similarity over images."""
        return self.similarity.mean(axis=-1)

    def curve(self, measure: str = "spearman_abs") -> np.ndarray:
        """(steps,) mean similarity of one measure."""
        return self.mean()[:, self.measures.index(measure)]


@dataclass
class RandomLogitResult:
    """Map for the top-1 class vs the map for a random other class.

    Attributes:
        method: Saliency method or control.
        seed: Seed of the other-class draw.
        measures: Similarity measure names.
        similarity: (measures, N).
        targets: (N,) top-1 classes.
        others: (N,) random other classes (never equal to ``targets``).
        maps: (2, N, H, W) float32: top-1 maps, other-class maps.
    """

    method: str
    seed: int
    measures: tuple[str, ...]
    similarity: np.ndarray
    targets: np.ndarray
    others: np.ndarray
    maps: np.ndarray

    def mean(self) -> np.ndarray:
        """(measures,) mean similarity over images."""
        return self.similarity.mean(axis=-1)
