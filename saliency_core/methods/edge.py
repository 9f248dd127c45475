"""The edge control: Sobel gradient magnitude of the channel-mean image (model-independent)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .base import Method, MethodContext, NoOptions, register_method


def edge_map(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the channel-mean image, (N, H, W).

    Each image is filtered on its own: ``ndimage.sobel`` smooths along every axis but
    the derivative's, so filtering the (N, H, W) stack at once would blend each map
    with its neighbours in the batch.
    """
    gray = np.asarray(images, dtype=np.float64).mean(axis=-1)
    out = np.empty_like(gray)
    for i, g in enumerate(gray):
        out[i] = np.hypot(ndimage.sobel(g, axis=1, mode="reflect"), ndimage.sobel(g, axis=0, mode="reflect"))
    return out


@register_method
class Edge(Method):
    name = "edge"
    kind = "control"
    summary = "Sobel edge magnitude (control)"
    reference = "Adebayo et al., NeurIPS 2018 (arXiv:1810.03292): edge detectors as a control"
    default_check = True

    def attribute(self, ctx: MethodContext, opts: NoOptions):
        return edge_map(ctx.images)
