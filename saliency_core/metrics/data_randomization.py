"""Data randomization test (Adebayo et al. 2018, Sec. 5): maps of a network trained on
the true labels against one trained on permuted labels; they should differ (lower
similarity is better). Needs the networks (synthetic CNN); the classifier is not used."""

from __future__ import annotations

import numpy as np

from ..checks.data_randomization_test import compare_networks
from ..checks.similarity import SIMILARITIES
from .base import Metric, MetricResult, register_metric
from .randomization_support import ADEBAYO, main_measure


@register_metric
class DataRandomization(Metric):
    name = "data-randomization"
    category = "randomization"
    chance_orderings = False  # a model-independent map is unchanged by any randomization
    direction = "lower"
    needs = frozenset({"networks"})
    statistics = ("margin",) + tuple(f"{p}_{m}" for p in ("permuted", "true") for m in SIMILARITIES)
    image_axes = {"data_similarity_permuted": -1, "data_similarity_true": -1}
    reference = ADEBAYO + ", data randomization test"
    summary = "similarity of maps from true-label and permuted-label networks"
    label = "Spearman |map| (true vs permuted labels)"

    def compute(self, ctx, method):
        nets = ctx.networks
        if nets is None:
            raise ValueError(
                "data-randomization needs networks trained on true and permuted labels "
                "(run_checks(networks=train_randomization_networks(...)); on the "
                "command line: --model synthetic-cnn --data synthetic)"
            )
        s = ctx.settings
        result = compare_networks(
            nets,
            ctx.images,
            seed=ctx.seed,
            method=method,
            variant=ctx.variant,
            reduce=s.randomization_reduce,
            measures=s.measures,
            batch_size=ctx.batch_size,
            precision=ctx.precision,
        )
        main = main_measure(result.measures)
        j = result.measures.index(main)
        per_image_statistics = {}
        for i, m in enumerate(result.measures):
            per_image_statistics[f"permuted_{m}"] = np.asarray(result.true_vs_permuted[i], np.float64)
            per_image_statistics[f"true_{m}"] = np.asarray(result.true_vs_true[i], np.float64)
        per_image_statistics["margin"] = (
            per_image_statistics[f"true_{main}"] - per_image_statistics[f"permuted_{main}"]
        )
        statistics = {k: float(v.mean()) for k, v in per_image_statistics.items()}
        config = {
            "reduce": s.randomization_reduce,
            "variant": ctx.variant,
            "precision": ctx.precision,
            "measures": list(result.measures),
            "seed": int(ctx.seed),
            "value_measure": main,
            "value": f"mean over images of {main} between the true-label and the "
            "permuted-label network's maps",
            "targets": "the true-label network's top-1, for all three networks",
            "training": {"epochs": nets.epochs, "seeds": dict(nets.seeds), "accuracy": dict(nets.accuracy)},
        }
        true, below = statistics[f"true_{main}"], statistics["margin"] > 0
        config["note"] = (
            f"two true-label networks agree at {true:.3f} ({main}); "
            f"{'below' if below else 'NOT below'} it, the maps "
            f"{'depend' if below else 'do not depend'} on the labels"
        )
        return MetricResult(
            per_image=np.asarray(result.true_vs_permuted[j], np.float64),
            per_image_statistics=per_image_statistics,
            config=config,
            extra={
                "measures": list(result.measures),
                "targets": result.targets.tolist(),
                "passed": bool(result.passed),
                "true_vs_true": np.asarray(result.true_vs_true[j], np.float64).tolist(),
            },
            artifacts={
                "data_similarity_permuted": np.asarray(result.true_vs_permuted, np.float64),
                "data_similarity_true": np.asarray(result.true_vs_true, np.float64),
            },
        )
