"""Efficient MPRT (Hedstroem et al. 2023/2024): the rise in a map's complexity when
every layer of the model is randomized, instead of a similarity between maps.

Complexity is the discrete entropy of the histogram of the map's values in ``bins``
equal-width bins over the map's own range (:mod:`saliency_core.checks.complexity`);
the value per image is the relative rise ``(H(randomized) - H(trained)) / H(trained)``.
Only two model states are explained: the trained model and the fully randomized one
(every weighted layer re-drawn from its own initializer). A map that explains the
model loses its structure and gets more complex, so higher is better; a
model-independent control gives exactly 0 (ratio exactly 1). The maps are the run's
randomization maps (``randomization_reduce``, signed by default: the papers keep the
sign); the histogram follows each map's range, so normalising a map does not change it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks.complexity import histogram_entropy, relative_rise

from ..jsonable import jsonable
from ..methods.base import options_record
from .base import Metric, MetricResult, register_metric
from .randomization_support import constant_map_warnings, main_measure, run_mprt
from .smprt import HEDSTROEM


@dataclass(frozen=True)
class EmprtSettings:
    """Attributes:
    bins: Equal-width histogram bins of the complexity (100 in the papers).
    """

    bins: int = 100


@register_metric
class Emprt(Metric):
    name = "emprt"
    category = "randomization"
    direction = "higher"
    needs = frozenset({"model"})
    statistics = ("ratio", "complexity_trained", "complexity_randomized")
    reference = HEDSTROEM + ", Efficient MPRT"
    summary = "relative rise in map entropy, trained -> fully randomized model"
    label = "relative rise in histogram entropy"
    settings = EmprtSettings

    def compute(self, ctx, method):
        s, opts = ctx.settings, ctx.settings_for(self)
        if opts.bins < 1:
            raise ValueError(f"emprt setting bins must be >= 1, got {opts.bins}")
        options = ctx.options_for(method)
        entropies = []

        def explain(explainer, targets):
            result = explainer.explain(
                ctx.images,
                targets=targets,
                method=method,
                reduce=s.randomization_reduce,
                options=options,
                seed=ctx.seed,
            )
            entropies.append(histogram_entropy(result.maps, opts.bins))
            return result

        measure = main_measure(s.measures)  # recorded for comparison with MPRT; not the value
        result = run_mprt(
            ctx,
            method,
            mode="cascading",
            final_only=True,
            measures=(measure,),
            explain_fn=explain,
        )
        trained, randomized = entropies
        rise = relative_rise(trained, randomized)  # ValueError if undefined
        ratio = np.where(trained == 0, 1.0, randomized / np.where(trained == 0, 1.0, trained))
        config = {
            "bins": int(opts.bins),
            "reduce": s.randomization_reduce,
            "score": s.score,
            "variant": ctx.variant,
            "precision": ctx.precision,
            "seed": int(ctx.seed),
            "complexity": f"discrete entropy (nats) of the histogram of the map's values, "
            f"{opts.bins} equal-width bins from its minimum to its maximum",
            "value": "mean over images of (H(randomized) - H(trained)) / H(trained), the "
            "fully randomized model against the trained one",
            "initialisation": "each layer's own Keras initializer, seeded per variable "
            "from the run seed (layer_seed)",
            "method_options": options_record(options),
        }
        artifacts = {"complexity": np.stack([trained, randomized])}
        if result.maps is not None:
            index = min(int(s.step_maps_image), result.maps.shape[1] - 1)
            artifacts["maps"] = np.asarray(result.maps[:, index], np.float32)
            config["maps_image"] = index
        return MetricResult(
            per_image=rise,
            statistics={
                "ratio": float(ratio.mean()),
                "complexity_trained": float(trained.mean()),
                "complexity_randomized": float(randomized.mean()),
            },
            config=config,
            artifacts=artifacts,
            warnings=constant_map_warnings(result.constant) if result.constant is not None else [],
            extra={
                "ratio_per_image": ratio.tolist(),
                "complexity_trained": trained.tolist(),
                "complexity_randomized": randomized.tolist(),
                f"similarity_{measure}": result.similarity[0, 0].tolist(),
                "layer_names": result.layers,
                "targets": result.targets.tolist(),
                "traces": int(result.traces),
                "skipped": list(result.skipped),
                "timings": jsonable(result.timings),
            },
        )
