"""A metric and a method added from outside saliency_core (see README, "Extending").

Use it with ``saliency-bench --plugin docs/examples/map_entropy_plugin.py check ...``.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from saliency_core.methods import Method, register_method
from saliency_core.metrics import Metric, MetricResult, register_metric


@register_metric
class MapEntropy(Metric):
    name, category, direction = "map-entropy", "complexity", "lower"
    statistics = ("top_percent_mass",)
    reference = "Shannon entropy (nats) of the |map| normalised to sum 1"

    def compute(self, ctx, method):
        p = np.abs(ctx.maps(method)).reshape(len(ctx.images), -1) + 1e-12
        p /= p.sum(axis=1, keepdims=True)
        top = np.sort(p, axis=1)[:, -max(1, p.shape[1] // 100):].sum(axis=1)
        return MetricResult(per_image=-(p * np.log(p)).sum(axis=1),
                            per_image_statistics={"top_percent_mass": top})


@dataclass(frozen=True)
class BlurOptions:
    sigma: float = 1.0  # pixels


@register_method
class BlurGradient(Method):
    name, kind, options = "blur-gradient", "attribution", BlurOptions

    def attribute(self, ctx, opts):
        blurred = ndimage.gaussian_filter(ctx.images, (0, opts.sigma, opts.sigma, 0))
        return ctx.grad(blurred.astype(ctx.images.dtype), ctx.targets)
