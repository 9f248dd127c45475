"""Gradient attribution methods built on one gradient function.

Each method takes a ``grad`` callable ``(inputs (M, H, W, C), targets (M,)) ->
gradients (M, H, W, C)`` (numpy in, numpy out, batching handled by the caller),
the images, their targets, the options, and ``clean``: the gradient at the images
themselves, which the caller has already computed in the pass that found the
targets. Methods return per-channel attributions (N, H, W, C). They never build
or trace anything themselves, so every method reuses the same compiled core.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MethodOptions", "METHODS", "vanilla_gradient", "gradient_x_input", "smoothgrad",
           "integrated_gradients"]


@dataclass(frozen=True)
class MethodOptions:
    """Options of the gradient methods.

    Attributes:
        noise_level: SmoothGrad noise standard deviation as a fraction of each
            image's value range (max - min); Smilkov et al. (2017) suggest 0.1-0.2.
        samples: SmoothGrad sample count per image.
        steps: Integrated-gradients Riemann steps (trapezoidal rule over steps + 1 points).
        baseline: Integrated-gradients baseline value in the input space
            (0 = a black image for raw RGB input).
        seed: Seed of SmoothGrad's noise.
    """

    noise_level: float = 0.15
    samples: int = 25
    steps: int = 32
    baseline: float = 0.0
    seed: int = 0


def vanilla_gradient(grad, images, targets, options: MethodOptions, clean):
    """d score / d input (Simonyan et al. 2014)."""
    return clean


def gradient_x_input(grad, images, targets, options: MethodOptions, clean):
    """Input times gradient (Shrikumar et al. 2016), in the gradient's input space."""
    return clean * images


def smoothgrad(grad, images, targets, options: MethodOptions, clean=None):
    """Mean gradient over Gaussian-perturbed copies (Smilkov et al. 2017)."""
    if options.samples < 1:
        raise ValueError(f"smoothgrad samples must be >= 1, got {options.samples}")
    rng = np.random.default_rng(options.seed)
    n = len(images)
    span = (images.reshape(n, -1).max(axis=1) - images.reshape(n, -1).min(axis=1))
    sigma = (options.noise_level * span).reshape(n, 1, 1, 1, 1)
    noise = rng.standard_normal((n, options.samples, *images.shape[1:])) * sigma
    noisy = (images[:, None] + noise).astype(images.dtype).reshape(-1, *images.shape[1:])
    g = grad(noisy, np.repeat(targets, options.samples))
    return g.reshape(n, options.samples, *images.shape[1:]).mean(axis=1)


def integrated_gradients(grad, images, targets, options: MethodOptions, clean=None):
    """Integrated gradients (Sundararajan et al. 2017) from a constant baseline.

    Uses the trapezoidal rule over ``steps + 1`` points on the straight path, so
    the attributions sum to about ``score(x) - score(baseline)`` (completeness).
    """
    if options.steps < 1:
        raise ValueError(f"integrated-gradients steps must be >= 1, got {options.steps}")
    n = len(images)
    alphas = np.linspace(0.0, 1.0, options.steps + 1)
    weights = np.full(options.steps + 1, 1.0 / options.steps)
    weights[[0, -1]] *= 0.5
    baseline = np.full_like(images, options.baseline)
    path = baseline[:, None] + alphas.reshape(1, -1, 1, 1, 1) * (images - baseline)[:, None]
    g = grad(path.astype(images.dtype).reshape(-1, *images.shape[1:]),
             np.repeat(targets, options.steps + 1))
    g = g.reshape(n, options.steps + 1, *images.shape[1:])
    avg = np.tensordot(weights, g, axes=([0], [1]))
    return (images - baseline) * avg


METHODS = {
    "gradient": vanilla_gradient,
    "gradient_x_input": gradient_x_input,
    "smoothgrad": smoothgrad,
    "integrated_gradients": integrated_gradients,
}
