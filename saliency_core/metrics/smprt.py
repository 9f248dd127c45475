"""Smooth MPRT (Hedstroem et al. 2023/2024): MPRT on denoised maps, randomized bottom up.

Each map is averaged over ``samples`` noisy copies of its image (noise standard
deviation ``noise_level`` times the image's value range; the same noise for every
model state; :mod:`saliency_core.checks.denoise`), so the noise of a single map does
not decide the similarity. The trained model's denoised maps are compared with the
fully randomized model's (every weighted layer re-drawn from its own initializer):
the value is the per-image similarity of the two, under Spearman of ``|map|`` when
it is among the run's measures. A method that explains the model changes, so lower
is better; a model-independent control scores exactly 1.

With ``layerwise`` the layers are randomized cumulatively from the input towards
the output (the papers' bottom-up order) and every step is scored (the curve);
the value is the same, the last step being the fully randomized model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks.denoise import denoised_maps

from ..checks.similarity import SIMILARITIES
from ..jsonable import jsonable
from ..methods.base import options_record
from .base import Metric, MetricResult, register_metric
from .randomization_support import constant_map_warnings, main_measure, run_mprt

HEDSTROEM = (
    "Hedstroem, Weber, Bareeva, Motzkus, Samek, Lapuschkin & Hoehne, Sanity Checks "
    "Revisited: An Exploration to Repair the Model Parameter Randomisation Test, XAI in "
    "Action workshop, NeurIPS 2023 (arXiv:2401.06465); Hedstroem, Weber, Lapuschkin & "
    "Hoehne, A Fresh Look at Sanity Checks for Saliency Maps, xAI 2024 "
    "(arXiv:2405.02383)"
)


@dataclass(frozen=True)
class SmprtSettings:
    """Attributes:
    samples: Noisy copies averaged per map (the papers' N; 50 in their experiments).
    noise_level: Noise standard deviation as a fraction of each image's value range
        (max - min); 0.1 in the papers' ImageNet experiments.
    layerwise: Also score every cumulative bottom-up step (a curve of as many map
        sets as the model has blocks); False explains only the trained and the fully
        randomized model, which give the value either way.
    """

    samples: int = 50
    noise_level: float = 0.1
    layerwise: bool = False


@register_metric
class Smprt(Metric):
    name = "smprt"
    category = "randomization"
    direction = "lower"
    needs = frozenset({"model"})
    statistics = tuple(SIMILARITIES)
    reference = HEDSTROEM + ", Smooth MPRT"
    summary = "similarity of noise-averaged maps, trained vs fully randomized model"
    label = "Spearman |denoised map| (trained vs randomized)"
    settings = SmprtSettings

    def compute(self, ctx, method):
        s, opts = ctx.settings, ctx.settings_for(self)
        options = ctx.options_for(method)

        def explain(explainer, targets):
            return denoised_maps(
                explainer,
                ctx.images,
                method=method,
                samples=opts.samples,
                noise_level=opts.noise_level,
                seed=ctx.seed,
                targets=targets,
                reduce=s.randomization_reduce,
                options=options,
            )

        result = run_mprt(
            ctx,
            method,
            mode="cascading",
            order="bottom_up",
            final_only=not opts.layerwise,
            explain_fn=explain,
        )
        sim = np.asarray(result.similarity, np.float64)  # (steps, measures, N)
        main = main_measure(result.measures)
        config = {
            "samples": int(opts.samples),
            "noise_level": float(opts.noise_level),
            "layerwise": bool(opts.layerwise),
            "mode": "bottom-up",
            "order": result.order,
            "reduce": s.randomization_reduce,
            "score": s.score,
            "variant": ctx.variant,
            "precision": ctx.precision,
            "measures": list(result.measures),
            "seed": int(ctx.seed),
            "steps": len(result.blocks),
            "value_measure": main,
            "value": f"mean over images of {main} between the trained and the fully "
            f"randomized model's maps, each averaged over {opts.samples} noisy "
            f"copies (noise sd {opts.noise_level} x the image's value range)",
            "initialisation": "each layer's own Keras initializer, seeded per variable "
            "from the run seed (layer_seed)",
            "method_options": options_record(options),
        }
        artifacts = {"similarity": sim.mean(axis=-1), "similarity_per_image": sim}
        if result.maps is not None:
            index = min(int(s.step_maps_image), result.maps.shape[1] - 1)
            artifacts["step_maps"] = np.asarray(result.maps[:, index], np.float32)
            config["step_maps_image"] = index
        return MetricResult(
            per_image=sim[-1, result.measures.index(main)],
            statistics={m: float(sim[-1, i].mean()) for i, m in enumerate(result.measures)},
            config=config,
            artifacts=artifacts,
            warnings=constant_map_warnings(result.constant) if result.constant is not None else [],
            extra={
                "layers": list(result.blocks),
                "measures": list(result.measures),
                "layer_names": result.layers,
                "targets": result.targets.tolist(),
                "traces": int(result.traces),
                "skipped": list(result.skipped),
                "timings": jsonable(result.timings),
            },
        )
