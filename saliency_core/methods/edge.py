"""The edge control: Sobel gradient magnitude of the channel-mean image (model-independent)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import Method, MethodContext, NoOptions, register_method


def edge_map(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the channel-mean image, (N, H, W)."""
    gray = np.asarray(images, dtype=np.float64).mean(axis=-1)
    gx = ndimage.sobel(gray, axis=2, mode="reflect")
    gy = ndimage.sobel(gray, axis=1, mode="reflect")
    return np.hypot(gx, gy)


@register_method
class Edge(Method):
    name = "edge"
    kind = "control"
    summary = "Sobel edge magnitude (control)"
    reference = "Adebayo et al., NeurIPS 2018 (arXiv:1810.03292): edge detectors as a control"
    default_check = True

    def attribute(self, ctx: MethodContext, opts: NoOptions):
        return edge_map(ctx.images)
