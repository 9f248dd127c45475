"""Model-independent control "saliency" maps.

A sanity check that scores these as well as a gradient map cannot tell whether a
map depends on the model (Adebayo et al. 2018 show edge detectors look like many
saliency maps). Both controls ignore the model entirely, so any model-dependence
check must fail them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["random_map", "edge_map", "CONTROLS"]


def random_map(images: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Uniform random map in [0, 1), (N, H, W); image ``i`` uses seed ``(seed, i)``.

    The same image index and seed always give the same map, whatever the model.
    """
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    return np.stack([np.random.default_rng([seed, i]).random((h, w)) for i in range(n)])


def edge_map(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the channel-mean image, (N, H, W)."""
    gray = np.asarray(images, dtype=np.float64).mean(axis=-1)
    gx = ndimage.sobel(gray, axis=2, mode="reflect")
    gy = ndimage.sobel(gray, axis=1, mode="reflect")
    return np.hypot(gx, gy)


CONTROLS = {"random": random_map, "edge": edge_map}
