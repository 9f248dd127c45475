"""What a metric computes from: the model, the images and shared, cached work.

One :class:`CheckContext` serves every metric of a check run. Maps are computed once
per method and shared by every metric that needs them; the forward function that
scores perturbed images is built once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..checks.settings import CheckSettings
from ..checks.similarity import constant_maps
from ..explainer import Explainer, SaliencyResult
from ..gradients import Precision, Variant
from ..methods.base import get_method, resolve_options

__all__ = ["CheckContext"]


@dataclass
class CheckContext:
    """The inputs of every metric of one check run.

    Attributes:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`.
        images: (N, H, W, C) in the classifier's input space.
        seed: Run seed; every metric's randomness derives from it.
        settings: Protocol settings.
        variant, batch_size, device: How gradients and forward passes run.
        precision: The network's precision for maps and scored perturbations.
        masks: (N, H, W) bool ground-truth object masks, or None.
        networks: Trained networks for the data randomization test, or None.
        image_names: Names of the images (recorded with every result).
        sequence: True when the images are consecutive video frames.
        targets: (N,) class ids the maps explain, or None for each image's top-1.
    """

    classifier: Any
    images: np.ndarray
    seed: int
    settings: CheckSettings = field(default_factory=CheckSettings)
    variant: Variant = "function"
    batch_size: int = 8
    device: str | None = None
    masks: np.ndarray | None = None
    networks: Any = None
    image_names: Sequence[str] | None = None
    sequence: bool = False
    targets: np.ndarray | None = None
    precision: Precision = "float32"
    _explainer: Explainer | None = field(default=None, repr=False)
    _forward: Any = field(default=None, repr=False)
    _forwards: dict = field(default_factory=dict, repr=False)
    _clones: dict = field(default_factory=dict, repr=False)
    _maps: dict = field(default_factory=dict, repr=False)

    def with_seed(self, seed: int) -> "CheckContext":
        """The same run with another seed: shares the compiled functions, not the maps."""
        return dataclasses.replace(self, seed=int(seed), _maps={})

    def map_warnings(self, method: str) -> list[str]:
        """Why ``method``'s maps cannot rank pixels: constant or non-finite maps (empty
        when its maps were not computed or are fine)."""
        hit = self._maps.get(method)
        if hit is None or isinstance(hit, Exception):
            return []
        flat = np.asarray(hit.maps, np.float64).reshape(len(hit.maps), -1)
        out = []
        bad = ~np.isfinite(flat).all(axis=1)
        if bad.any():
            out.append(f"{int(bad.sum())} of {len(flat)} maps have non-finite values")
        constant = ~bad & constant_maps(flat)
        if constant.any():
            out.append(f"{int(constant.sum())} of {len(flat)} maps are constant (they rank no pixel)")
        return out

    def options_for(self, method: str) -> Any:
        """``method``'s options with this run's overrides."""
        unit = get_method(method)
        return resolve_options(unit, self.settings.method_options.get(unit.name))

    def settings_for(self, metric) -> Any:
        """``metric``'s own settings (its ``settings`` dataclass) with this run's overrides."""
        from .base import resolve_settings

        return resolve_settings(metric, self.settings.metric_settings.get(metric.name))

    def explainer_settings(self) -> dict:
        """How this run's gradients are computed: the keyword arguments of an
        :class:`Explainer` besides the classifier."""
        return dict(
            variant=self.variant,
            score=self.settings.score,
            batch_size=self.batch_size,
            device=self.device,
            precision=self.precision,
        )

    def explainer(self) -> Explainer:
        """The run's :class:`Explainer` (built once)."""
        if self._explainer is None:
            self._explainer = Explainer(self.classifier, **self.explainer_settings())
        return self._explainer

    def forward(self):
        """The run's forward function that scores perturbed images (built once)."""
        if self._forward is None:
            from ..gradients import build_forward_fn

            self._forward = build_forward_fn(self.classifier, variant=self.variant, precision=self.precision)
        return self._forward

    def randomization_clone(self):
        """The run's :class:`~saliency_core.checks.randomization.RandomizationClone`:
        the classifier cloned once for every randomization metric and chunk."""
        if "clone" not in self._clones:
            from ..checks.randomization import RandomizationClone

            self._clones["clone"] = RandomizationClone(self.classifier, **self.explainer_settings())
        return self._clones["clone"]

    @property
    def score_precision(self) -> Precision:
        """The network's precision when it scores perturbed curve images."""
        return self.settings.score_precision or self.precision

    def scoring_forward(self, precision: Precision | None = None):
        """The forward function that scores perturbed curve images in ``precision``
        (default :attr:`score_precision`), built once per precision."""
        precision = precision or self.score_precision
        if precision == self.precision:
            return self.forward()
        if precision not in self._forwards:
            from ..gradients import build_forward_fn

            self._forwards[precision] = build_forward_fn(
                self.classifier, variant=self.variant, precision=precision
            )
        return self._forwards[precision]

    def explain(self, method: str) -> SaliencyResult:
        """``method``'s maps of the images, reduced with ``settings.curve_reduce``
        (computed once per method; a failure is re-raised for every metric that asks)."""
        hit = self._maps.get(method)
        if hit is None:
            try:
                hit = self.explainer().explain(
                    self.images,
                    targets=self.targets,
                    method=method,
                    reduce=self.settings.curve_reduce,
                    options=self.options_for(method),
                    seed=self.seed,
                    sequence=self.sequence,
                )
            except Exception as exc:
                hit = exc
            self._maps[method] = hit
        if isinstance(hit, Exception):
            raise RuntimeError(f"computing the {method} maps failed: {type(hit).__name__}: {hit}") from hit
        return hit

    def maps(self, method: str) -> np.ndarray:
        """(N, H, W) maps of ``method`` (see :meth:`explain`)."""
        return self.explain(method).maps

    def require_masks(self, metric: str) -> np.ndarray:
        if self.masks is None:
            raise ValueError(f"{metric} needs ground-truth object masks (the synthetic data set has them)")
        return self.masks
