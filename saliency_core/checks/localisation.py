"""Localisation metrics: does the map point at the object that decides the class?

Both take maps (N, H, W) and ground-truth object masks (N, H, W, bool) of the same
size, e.g. from :func:`saliency_core.data.synthetic.make_synthetic`, and return one
value per image.

* :func:`pointing_game` (Zhang et al. 2016, "Top-down neural attention by
  excitation backprop", without their 15-pixel tolerance): is the map's maximum on
  the object?
* :func:`relevance_mass` (Arras, Osman & Samek 2022, "CLEVR-XAI: A benchmark
  dataset for the ground truth evaluation of neural network explanations",
  Information Fusion 81, "relevance mass accuracy"): the fraction of the map's
  relevance that falls inside the mask.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pointing_game", "relevance_mass"]


def _check(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    maps = np.asarray(maps, dtype=np.float64)
    masks = np.asarray(masks)
    if maps.ndim == 2 and masks.ndim == 2:
        maps, masks = maps[None], masks[None]
    if maps.ndim != 3 or maps.shape != masks.shape:
        raise ValueError(
            f"expected maps and masks of the same shape (N, H, W); got {maps.shape} and {masks.shape}"
        )
    if not np.isfinite(maps).all():
        raise ValueError("maps contain NaN or infinite values")
    return maps.reshape(len(maps), -1), masks.astype(bool).reshape(len(masks), -1)


def pointing_game(maps, masks) -> np.ndarray:
    """(N,) bool: True where the map's maximum lies inside the mask.

    The map is taken as given (pass absolute maps to point with magnitude).
    Ties: when several pixels share the maximum value, the image counts as a hit
    only if *all* of them are inside the mask, so a constant (or saturated) map
    cannot score by chance; an empty mask is always a miss.
    """
    flat, inside = _check(maps, masks)
    top = flat == flat.max(axis=1, keepdims=True)
    return np.all(~top | inside, axis=1) & inside.any(axis=1)


def relevance_mass(maps, masks) -> np.ndarray:
    """(N,) fraction in [0, 1] of the map's absolute relevance inside the mask.

    ``sum(|R| inside mask) / sum(|R|)``. Arras et al. (2022) count positive
    relevance only, because LRP's sign means evidence for or against the class;
    the sign of a gradient is only the direction in which the score rises, so here
    the magnitude counts. A map that is zero everywhere scores 0. The chance level
    of a map spread uniformly is the mask's area fraction.
    """
    flat, inside = _check(maps, masks)
    relevance = np.abs(flat)
    total = relevance.sum(axis=1)
    within = np.where(inside, relevance, 0.0).sum(axis=1)
    return np.where(total > 0, within / np.where(total > 0, total, 1.0), 0.0)
