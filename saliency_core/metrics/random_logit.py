"""Random-logit test (Sixt, Granz & Landgraf 2020): the map of the top-1 class against
the map of a seeded random other class; a class-sensitive map differs (lower is better)."""

from __future__ import annotations

import numpy as np

from ..checks.random_logit_test import random_logit
from ..checks.similarity import SIMILARITIES, constant_maps
from ..methods.base import options_record
from .base import Metric, MetricResult, register_metric
from .randomization_support import constant_map_warnings, main_measure


@register_metric
class RandomLogit(Metric):
    name = "random-logit"
    category = "randomization"
    chance_orderings = False  # a model-independent map is unchanged by any randomization
    direction = "lower"
    needs = frozenset({"model"})
    statistics = tuple(SIMILARITIES)
    image_axes = {"logit_similarity": -1}
    reference = (
        "Sixt, Granz & Landgraf, When Explanations Lie, ICML 2020 (arXiv:1912.09818), random logit test"
    )
    summary = "similarity of the top-1 map and a random other class's map"
    label = "SSIM (top-1 vs random class)"
    default = True

    def compute(self, ctx, method):
        s = ctx.settings
        options = ctx.options_for(method)
        result = random_logit(
            ctx.classifier,
            ctx.images,
            seed=ctx.seed,
            method=method,
            variant=ctx.variant,
            batch_size=ctx.batch_size,
            measures=s.measures,
            reduce=s.randomization_reduce,
            score=s.score,
            options=options,
            device=ctx.device,
            precision=ctx.precision,
            explainer=ctx.explainer(),  # the run's: compiled once, not per chunk
        )
        sim = np.asarray(result.similarity, np.float64)  # (measures, N)
        main = main_measure(result.measures, "ssim")
        config = {
            "reduce": s.randomization_reduce,
            "score": s.score,
            "variant": ctx.variant,
            "precision": ctx.precision,
            "measures": list(result.measures),
            "seed": int(ctx.seed),
            "value_measure": main,
            "value": f"mean over images of {main} between the top-1 map and a random other class's map",
            "other_class": "uniform over the K-1 classes that are not the top-1, "
            "seeded per image from the run seed and the image's content",
            "method_options": options_record(options),
        }
        artifacts = {"logit_similarity": sim}
        if s.step_maps_image is not None:
            index = min(int(s.step_maps_image), result.maps.shape[1] - 1)
            artifacts["logit_maps"] = np.asarray(result.maps[:, index], np.float32)
        return MetricResult(
            per_image=sim[result.measures.index(main)],
            per_image_statistics={m: sim[i] for i, m in enumerate(result.measures)},
            config=config,
            artifacts=artifacts,
            extra={
                "measures": list(result.measures),
                "targets": result.targets.tolist(),
                "others": result.others.tolist(),
            },
            warnings=constant_map_warnings(
                [constant_maps(m) for m in result.maps], labels=("the top-1 class", "the other class")
            ),
        )
