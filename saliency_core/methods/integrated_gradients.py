"""Integrated gradients (Sundararajan, Taly & Yan 2017) from a constant baseline.

The path integral uses the trapezoidal rule over ``steps + 1`` points, so the
attributions sum to about ``score(x) - score(baseline)`` (completeness). The path
points are streamed through the compiled gradient ``batch_size`` at a time, so
memory does not grow with ``steps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Method, MethodContext, register_method
from .smoothgrad import stream_pairs


@dataclass(frozen=True)
class IntegratedGradientsOptions:
    """Attributes:
    steps: Riemann steps (trapezoidal rule over steps + 1 points).
    baseline: Baseline value in the input space (0 = black for raw RGB input).
    """

    steps: int = 32
    baseline: float = 0.0


@register_method
class IntegratedGradients(Method):
    name = "integrated_gradients"
    kind = "attribution"
    options = IntegratedGradientsOptions
    summary = "path integral of gradients from a constant baseline"
    reference = "Sundararajan, Taly & Yan, ICML 2017 (arXiv:1703.01365)"

    def attribute(self, ctx: MethodContext, opts: IntegratedGradientsOptions):
        if opts.steps < 1:
            raise ValueError(f"integrated_gradients steps must be >= 1, got {opts.steps}")
        images = ctx.images.astype(np.float64)
        alphas = np.linspace(0.0, 1.0, opts.steps + 1)
        weights = np.full(opts.steps + 1, 1.0 / opts.steps)
        weights[[0, -1]] *= 0.5
        delta = images - opts.baseline

        def path(i, js):
            return opts.baseline + alphas[js].reshape(-1, 1, 1, 1) * delta[i][None]

        avg = stream_pairs(ctx, opts.steps + 1, path, weights)
        return (delta * avg).astype(ctx.images.dtype)
