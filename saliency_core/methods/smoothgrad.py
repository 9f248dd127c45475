"""SmoothGrad (Smilkov et al. 2017): the mean gradient over noisy copies of each image.

Memory does not grow with the sample count: (image, sample) pairs are streamed
through the compiled gradient in chunks of ``batch_size`` and summed into one float64
accumulator per image. Each image's noise comes from its own generator, seeded from
the run seed and the image's content (:func:`~saliency_core.methods.base.image_seeds`),
and sample ``j`` is always that generator's ``j``-th draw, so the result does not
depend on the chunk size or on which images share a call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Method, MethodContext, register_method


@dataclass(frozen=True)
class SmoothGradOptions:
    """Attributes:
    noise_level: Noise standard deviation as a fraction of each image's value range
        (max - min); Smilkov et al. suggest 0.1-0.2.
    samples: Noisy copies per image.
    """

    noise_level: float = 0.15
    samples: int = 25


def stream_pairs(ctx: MethodContext, count: int, make_inputs, weights=None) -> np.ndarray:
    """Sum over ``count`` inputs per image of ``weights[j] * grad(make_inputs(i, js))``.

    ``make_inputs(i, js)`` returns the inputs (len(js), H, W, C) for image ``i`` and
    sample/step indices ``js`` (consecutive, in order). Pairs go through ``ctx.grad``
    at most ``ctx.batch_size`` at a time; the accumulator is float64.
    """
    n = len(ctx.images)
    total = np.zeros(ctx.images.shape, np.float64)
    pairs = n * count
    for start in range(0, pairs, ctx.batch_size):
        stop = min(start + ctx.batch_size, pairs)
        owners = np.arange(start, stop) // count
        parts, rows = [], []
        for i in np.unique(owners):
            js = np.arange(start, stop)[owners == i] % count
            parts.append(make_inputs(int(i), js))
            rows.append((int(i), js))
        g = np.asarray(
            ctx.grad(np.concatenate(parts).astype(ctx.images.dtype), ctx.targets[owners]), np.float64
        )
        at = 0
        for i, js in rows:
            w = np.ones(len(js)) if weights is None else weights[js]
            total[i] += np.tensordot(w, g[at : at + len(js)], axes=([0], [0]))
            at += len(js)
    return total


@register_method
class SmoothGrad(Method):
    name = "smoothgrad"
    kind = "attribution"
    options = SmoothGradOptions
    summary = "mean gradient over Gaussian-perturbed copies"
    reference = "Smilkov, Thorat, Kim, Viegas & Wattenberg 2017 (arXiv:1706.03825)"
    default_check = True

    def attribute(self, ctx: MethodContext, opts: SmoothGradOptions):
        if opts.samples < 1:
            raise ValueError(f"smoothgrad samples must be >= 1, got {opts.samples}")
        if opts.noise_level < 0:
            raise ValueError(f"smoothgrad noise_level must be >= 0, got {opts.noise_level}")
        images = ctx.images
        flat = images.reshape(len(images), -1)
        sigma = opts.noise_level * (flat.max(axis=1) - flat.min(axis=1))
        rngs = [np.random.default_rng(int(s)) for s in ctx.image_seeds]

        def noisy(i, js):
            noise = rngs[i].standard_normal((len(js), *images.shape[1:]), dtype=np.float32)
            return images[i][None] + noise * np.float32(sigma[i])

        total = stream_pairs(ctx, opts.samples, noisy)
        return (total / opts.samples).astype(images.dtype)
