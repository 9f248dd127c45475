"""Spectral residual saliency (Hou & Zhang, CVPR 2007): a model-independent control.

The log amplitude spectrum of a small grayscale copy of the image, minus its local
average, is the "spectral residual"; transformed back with the original phase and
squared, it marks what the image's smooth spectrum does not predict.

Steps and constants (``variant="paper"``, the default):

1. Each image is min-max scaled to [0, 1] (images come in any classifier input range;
   the map is invariant to the scale, and the offset only enters the DC term).
2. Grayscale: the channel itself (C = 1) or BT.601 luma ``0.299 R + 0.587 G + 0.114 B``
   (C = 3), as MATLAB's ``rgb2gray`` and OpenCV's ``COLOR_BGR2GRAY`` weigh them.
3. Resize to ``width`` = 64 px wide, keeping the aspect ratio (the paper down-samples
   its inputs to 64 px width), bilinear with an anti-aliasing Gaussian of
   sigma ``(f - 1) / 2`` per axis for a down-sampling factor ``f`` (scikit-image's rule).
4. ``L = log |F|``, ``P = angle F`` of the 2-D FFT; residual ``R = L - h_n * L`` with
   the ``n x n`` mean filter ``h_n``, n = ``average`` = 3 (as in the paper); borders
   replicated, as in the MATLAB snippet circulated with the method
   (``imfilter(..., 'replicate')``).
5. ``S = g * |IFFT(exp(R + iP))|^2`` with a Gaussian ``g`` of ``sigma`` = 8 px at the
   64-px scale (as in the paper), truncated at 4 sigma, borders reflected. The MATLAB
   snippet blurs with a 10 x 10 kernel of sigma 2.5 instead. Sigma 8 over a 64-px map
   is a heavy blur and the main reason the default map ranks pixels differently from
   OpenCV's (Spearman 0.35-0.54 on four scikit-image photos; 0.73-0.89 with
   ``sigma`` = sqrt(2), the spread of OpenCV's 5 x 5 kernel).
6. ``S / max S``, resized bilinearly (pixel centres aligned) to the input size.

``variant="opencv"`` follows OpenCV contrib's ``StaticSaliencySpectralResidual``
(``modules/saliency/src/staticSaliencySpectralResidual.cpp``, unchanged from 4.x to
5.0) instead: a square ``width x width`` bilinear resize without anti-aliasing,
``log(|F| + 1)`` of the image scaled to [0, 255] (OpenCV's guard against ``log 0``,
which makes its map depend on the input's scale; [0, 255] is its native range),
reflect-101 borders for both filters, and a 5 x 5 Gaussian of ``sigma`` applied to
``|IFFT|`` *before* squaring. Given the same [0, 255] image it reproduces OpenCV's map
to within 5e-5 (max abs, maps in [0, 1]); the difference is OpenCV's approximate phase
(``cartToPolar``'s atan2, error about 1.6e-4 rad), with its float32 gray and resize far
below that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._pixels import check_images, resize_linear, unit_range
from .base import Method, MethodContext, register_method

__all__ = ["SpectralResidualOptions", "spectral_residual_map"]

_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601
_VARIANTS = ("paper", "opencv")
_OPENCV_KERNEL = 5  # OpenCV's GaussianBlur(Size(5, 5), sigma) in computeSaliencyImpl


@dataclass(frozen=True)
class SpectralResidualOptions:
    """Attributes:
    width: Width in pixels of the copy whose spectrum is analysed (64 in the paper).
    average: Side of the mean filter on the log amplitude spectrum (3 in the paper).
    sigma: Standard deviation in pixels (at ``width`` scale) of the final Gaussian
        blur (8 in the paper).
    variant: "paper" (Hou & Zhang's steps) or "opencv" (OpenCV's implementation:
        square resize, reflect-101 borders, 5 x 5 blur before squaring).
    """

    width: int = 64
    average: int = 3
    sigma: float = 8.0
    variant: str = "paper"


def _check_options(opts: SpectralResidualOptions) -> None:
    if opts.variant not in _VARIANTS:
        raise ValueError(f"option spectral-residual.variant must be one of {_VARIANTS}, got {opts.variant!r}")
    if opts.width < 2:
        raise ValueError(f"option spectral-residual.width must be >= 2, got {opts.width}")
    if opts.average < 1:
        raise ValueError(f"option spectral-residual.average must be >= 1, got {opts.average}")
    if not opts.sigma > 0:
        raise ValueError(f"option spectral-residual.sigma must be > 0, got {opts.sigma}")


def _gray(image: np.ndarray) -> np.ndarray:
    return image[..., 0] if image.shape[-1] == 1 else image @ _LUMA


def _downsample(gray: np.ndarray, opts: SpectralResidualOptions) -> np.ndarray:
    h, w = gray.shape
    if opts.variant == "opencv":
        return resize_linear(gray, (opts.width, opts.width))
    shape = (max(1, round(h * opts.width / w)), opts.width)
    factors = np.array([h / shape[0], w / shape[1]])
    if np.any(factors > 1):
        gray = ndimage.gaussian_filter(gray, np.maximum(0.0, (factors - 1) / 2), mode="nearest")
    return resize_linear(gray, shape)


def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _residual_map(small: np.ndarray, opts: SpectralResidualOptions) -> np.ndarray:
    spectrum = np.fft.fft2(small)
    if opts.variant == "opencv":  # OpenCV: gray in [0, 255], log(|F| + 1) against log 0
        log_amp = np.log1p(np.abs(spectrum) * 255.0)
    else:
        log_amp = np.log(np.maximum(np.abs(spectrum), np.finfo(np.float64).tiny))
    border = "mirror" if opts.variant == "opencv" else "nearest"
    residual = log_amp - ndimage.uniform_filter(log_amp, opts.average, mode=border)
    back = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum))))
    if opts.variant == "opencv":
        k = _gaussian_kernel(_OPENCV_KERNEL, opts.sigma)
        back = ndimage.correlate1d(back, k, axis=0, mode="mirror")
        return ndimage.correlate1d(back, k, axis=1, mode="mirror") ** 2
    return ndimage.gaussian_filter(back**2, opts.sigma, mode="reflect")


def spectral_residual_map(images, options: SpectralResidualOptions | None = None) -> np.ndarray:
    """Spectral residual saliency of (N, H, W, C) images (C = 1 or 3), (N, H, W) in [0, 1].

    A flat image gives an all-zero map. Raises ValueError for a wrong shape, NaN or
    infinite pixels, or a bad option.
    """
    opts = options or SpectralResidualOptions()
    _check_options(opts)
    x = check_images(images, "spectral-residual")
    out = np.zeros(x.shape[:3])
    for i, image in enumerate(x):
        gray = _gray(unit_range(image))
        if gray.max() <= gray.min():
            continue  # flat: no structure, a zero map
        s = _residual_map(_downsample(gray, opts), opts)
        top = s.max()
        out[i] = resize_linear(s / top if top > 0 else s, gray.shape)
    return out


@register_method
class SpectralResidual(Method):
    name = "spectral-residual"
    kind = "control"
    options = SpectralResidualOptions
    summary = "spectral residual bottom-up saliency of the image alone (control)"
    reference = (
        "Hou & Zhang, Saliency Detection: A Spectral Residual Approach, CVPR 2007 "
        "(doi:10.1109/CVPR.2007.383267); variant='opencv' follows OpenCV contrib's "
        "StaticSaliencySpectralResidual"
    )

    def attribute(self, ctx: MethodContext, opts: SpectralResidualOptions):
        return spectral_residual_map(ctx.images, opts)
