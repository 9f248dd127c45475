"""Denoised maps as Smooth MPRT computes them: a method's map averaged over noisy inputs.

Hedstroem et al. ("Sanity Checks Revisited", arXiv:2401.06465; "A Fresh Look at
Sanity Checks for Saliency Maps", arXiv:2405.02383) add a preprocessing step to MPRT
that averages a method's explanation over ``N`` perturbed copies of the input,

    e_bar(x) = (1/N) sum_j Phi(x + eps_j),   eps_j ~ N(0, sigma^2 I),
    sigma = noise_level * (max(x) - min(x)),

so that the noise of a single explanation does not decide the similarity. Any
method works (SmoothGrad is the special case of the gradient); each noisy copy's
map is computed and channel-reduced as the method's plain map would be, then
averaged.

Memory does not grow with ``N``: (image, sample) pairs are streamed through the
explainer ``batch_size`` at a time (a short last chunk padded to the full size,
so a compiled function sees one shape) and summed into one float64 map per image.
Image ``i``'s noise comes from its own generator (``numpy.random.default_rng``, float32
standard normal draws), seeded from the run seed and the image's content
(:func:`noise_seeds`), and sample ``j`` is that generator's ``j``-th draw, so the maps do
not depend on the chunk size or on which images share a call; the same seed gives
the same noise for the trained and every randomized model.
"""

from __future__ import annotations

import numpy as np

from ..explainer import SaliencyResult
from ..methods.base import image_seeds
from ..seeds import stable_seed

__all__ = ["denoised_maps", "noise_seeds"]


def noise_seeds(seed: int, images: np.ndarray) -> np.ndarray:
    """(N,) seeds of the denoising noise: the run seed and each image's content, in a
    stream of their own (not SmoothGrad's noise for the same image)."""
    return image_seeds(stable_seed(int(seed), "denoise"), images)


def denoised_maps(
    explainer,
    images,
    *,
    method: str,
    samples: int,
    noise_level: float,
    seed: int,
    targets=None,
    reduce="sum",
    options=None,
) -> SaliencyResult:
    """Each image's ``method`` map averaged over ``samples`` Gaussian-perturbed copies.

    Args:
        explainer: An :class:`~saliency_core.explainer.Explainer` (its batch size sets
            the chunk size).
        images: (N, H, W, C) in the classifier's input space.
        method: A registered method or control.
        samples: Noisy copies per image (the papers' ``N``).
        noise_level: Noise standard deviation as a fraction of each image's value range.
        seed: Run seed: the noise and the method's own randomness derive from it.
        targets: (N,) class ids, or None for each clean image's top-1 class. Every
            noisy copy explains its clean image's target.
        reduce: Channel reduction of each noisy copy's map (before averaging).
        options: The method's options (None: its defaults).

    Returns:
        A :class:`SaliencyResult`: ``maps`` (N, H, W) float64 averages, the clean
        images' ``logits`` and ``targets``, and the options with ``samples``,
        ``noise_level`` and ``seed`` recorded.
    """
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level!r}")
    images = np.asarray(images, dtype=explainer.classifier.dtype)
    images = images[None] if images.ndim == 3 else images
    _, logits, targets = explainer.gradients(images, targets)  # checks; resolves the top-1 classes
    n = len(images)
    flat = images.reshape(n, -1).astype(np.float64)
    sigma = (noise_level * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)
    rngs = [np.random.default_rng(int(s)) for s in noise_seeds(seed, images)]
    chunk = explainer.batch_size
    total, record = None, {}
    for start in range(0, n * samples, chunk):
        owners = np.arange(start, min(start + chunk, n * samples)) // samples
        parts = []
        for i in np.unique(owners):  # consecutive samples of image i, in draw order
            count = int(np.sum(owners == i))
            noise = rngs[i].standard_normal((count, *images.shape[1:]), dtype=np.float32)
            parts.append(images[i][None] + noise * sigma[i])
        x, m = np.concatenate(parts).astype(images.dtype), len(owners)
        pad = chunk - m
        if pad:
            x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
        chosen = np.concatenate([targets[owners], np.repeat(targets[owners[-1:]], pad)])
        result = explainer.explain(
            x, targets=chosen, method=method, reduce=reduce, options=options, seed=seed
        )
        maps = np.asarray(result.maps[:m], np.float64)
        if total is None:
            total = np.zeros((n, *maps.shape[1:]), np.float64)
        np.add.at(total, owners, maps)
        record = result.options
    assert total is not None  # at least one chunk ran
    return SaliencyResult(
        maps=np.asarray(total / samples),
        logits=logits,
        targets=targets,
        method=method,
        options={**record, "samples": int(samples), "noise_level": float(noise_level), "seed": int(seed)},
    )
