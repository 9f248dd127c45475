"""Itti-Koch-Niebur saliency (IEEE PAMI 20(11), 1998): a model-independent control.

Constants and their sources ("paper" = Itti, Koch & Niebur 1998; "STB" = Walther &
Koch's Saliency Toolbox, Neural Networks 19, 2006, ``defaultGaborParams.m`` and
``maxNormalizeLocalMax.m``):

* Input: each image min-max scaled to [0, 1] (inputs come in any classifier range).
* Intensity ``I = (r + g + b) / 3`` (paper); a grayscale image (C = 1) is ``I`` itself
  and has no colour channels (the map is then the mean of intensity and orientation).
* Colour (paper): ``r, g, b`` divided by ``I`` where ``I`` exceeds 1/10 of its image
  maximum, zero elsewhere; ``R = r - (g + b)/2``, ``G = g - (r + b)/2``,
  ``B = b - (r + g)/2``, ``Y = (r + g)/2 - |r - g|/2 - b``, negative values set to 0.
  Computed as ``3 r / (r + g + b)`` so a gray pixel gives exactly zero colour.
* Dyadic Gaussian pyramids, levels 0..8 (paper). The paper gives no kernel: each
  level is the previous one filtered with the 6-tap binomial ``[1, 5, 10, 10, 5, 1] / 32``
  (variance 5/4 px^2; the weights of STB's ``gaussianSubsample.m``, which appends one
  more tap for backward compatibility) and
  reduced to one value per pair of pixels, centred between them, so a level has
  ``ceil(n / 2)`` pixels and level-``k`` pixel ``i`` covers input pixels
  ``[i * 2**k, (i + 1) * 2**k)``. Keeping every second pixel instead (pixels 0, 2, ...)
  moves the mirror axis of the border by half a coarse pixel per level; the coarse
  levels then see seams in any texture that reaches the border, the Gabor filters
  respond to them and N(.) promotes them (measured on bar arrays: the map's maximum
  went to the border instead of the odd bar). All resampling uses this alignment.
* Centre levels ``c`` in {2, 3, 4}, surround ``s = c + delta``, ``delta`` in {3, 4}
  (paper). Across-scale difference: the surround interpolated (bilinear) to the
  centre's grid, then a point-wise difference; absolute value (paper).
* Colour opponency: ``RG(c, s) = |(R - G)(c) - (R - G)(s)|`` and the same for ``B - Y``.
  The paper writes ``|(R(c) - G(c)) (-) (G(s) - R(s))|``; read with its "double
  opponent" description (centre excited by R, surround by G), that is the difference
  above (pyramids are linear, so the pyramid of ``R - G`` is used).
* Orientation: ``O(sigma, theta) = |I * g_even| + |I * g_odd|`` on the intensity
  pyramid, ``theta`` = 0, 45, 90, 135 degrees (paper). The paper gives no Gabor
  parameters; STB's are used: period 7 px, envelope sigma 7/3 px, aspect 1, 9 x 9
  kernel, phases 0 and 90 degrees, each kernel zero-mean with unit L2 norm, and the
  sum of the absolute responses of the two phases.
* ``N(.)`` (paper): scale the map to [0, M] (M = 1; M only scales the result), take
  the mean ``m`` of its local maxima other than the global one and multiply by
  ``(M - m)**2``. Local maxima: 8-neighbour maxima (plateaus count once) of at least
  ``local_max_threshold`` * M (STB's threshold, M/10); with no other maximum, m = 0.
  A map whose range is below 1e-12 (rounding noise; channels are O(1) after the input
  scaling) counts as flat and becomes zero.
* Across-scale addition to ``map_level`` = 4 (paper): Gaussian reduction of finer maps
  (bilinear expansion of coarser ones), point-wise sum. Conspicuity:
  ``I = sum N(I(c,s))``, ``C = sum [N(RG(c,s)) + N(BY(c,s))]``,
  ``O = sum_theta N(sum N(O(c,s,theta)))``; saliency ``S = (N(I) + N(C) + N(O)) / 3``
  (paper), upsampled bilinearly to the input size.

Small images: the shorter side must be at least ``2 ** (centre_max + 1)`` pixels (32 by
default) so the coarsest centre level has 2 x 2 pixels. Below ``2 ** 8`` = 256 px the
deepest surround levels are a single pixel (the image mean), as at level 8 of the
paper's 640 x 480 images (3 x 2 px).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import cast

import numpy as np
from scipy import ndimage

from ._pixels import check_images, unit_range
from .base import Method, MethodContext, register_method

__all__ = ["IttiKochOptions", "itti_koch_map", "normalize_n"]

_BINOMIAL6 = np.array([1.0, 5.0, 10.0, 10.0, 5.0, 1.0]) / 32.0
_GABOR_PERIOD = 7.0  # px, STB defaultGaborParams.filterPeriod
_GABOR_SIGMA = 7.0 / 3.0  # px, STB defaultGaborParams.stddev (2.3333)
_GABOR_HALF = 4  # 9 x 9 kernel, STB defaultGaborParams.filterSize
_LUMINANCE_FLOOR = 0.1  # paper: colour only where I > max(I) / 10
_FLAT = 1e-12  # maps with a smaller range are rounding noise


@dataclass(frozen=True)
class IttiKochOptions:
    """Attributes:
    centre_min: Finest centre level c (2 in the paper).
    centre_max: Coarsest centre level c (4 in the paper).
    delta_min: Smallest centre-surround level gap (3 in the paper).
    delta_max: Largest centre-surround level gap (4 in the paper).
    map_level: Pyramid level of the conspicuity and saliency maps (4 in the paper).
    orientations: Gabor orientations, evenly spaced over 180 degrees (4 in the paper).
    local_max_threshold: Local maxima below this fraction of M are ignored by N(.)
        (0.1, the Saliency Toolbox's value; the paper gives none).
    """

    centre_min: int = 2
    centre_max: int = 4
    delta_min: int = 3
    delta_max: int = 4
    map_level: int = 4
    orientations: int = 4
    local_max_threshold: float = 0.1


def _check_options(o: IttiKochOptions) -> None:
    def need(ok, name, rule, value):
        if not ok:
            raise ValueError(f"option itti-koch.{name} must be {rule}, got {value!r}")

    need(o.centre_min >= 0, "centre_min", ">= 0", o.centre_min)
    need(o.centre_max >= o.centre_min, "centre_max", f">= centre_min ({o.centre_min})", o.centre_max)
    need(o.delta_min >= 1, "delta_min", ">= 1", o.delta_min)
    need(o.delta_max >= o.delta_min, "delta_max", f">= delta_min ({o.delta_min})", o.delta_max)
    need(
        0 <= o.map_level <= o.centre_max + o.delta_max,
        "map_level",
        f"in [0, centre_max + delta_max = {o.centre_max + o.delta_max}]",
        o.map_level,
    )
    need(o.orientations >= 1, "orientations", ">= 1", o.orientations)
    need(0.0 <= o.local_max_threshold < 1.0, "local_max_threshold", "in [0, 1)", o.local_max_threshold)


# -- pyramids and resampling ---------------------------------------------------
def _reduce_axis(x: np.ndarray, axis: int) -> np.ndarray:
    n = x.shape[axis]
    if n == 1:
        return x
    if n % 2:  # one more mirrored sample, so the last output has its pair
        x = np.concatenate([x, np.take(x, [-1], axis=axis)], axis=axis)
    y = ndimage.correlate1d(x, _BINOMIAL6, axis=axis, mode="reflect")
    return np.take(y, np.arange(1, x.shape[axis], 2), axis=axis)


def _reduce(x: np.ndarray) -> np.ndarray:
    """One pyramid step: 6-tap binomial blur centred between pixel pairs, keep one
    value per pair (cell-centred, so the image border stays put at every level)."""
    return _reduce_axis(_reduce_axis(x, 0), 1)


def _pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [x]
    for _ in range(levels - 1):
        out.append(_reduce(out[-1]))
    return out


def _expand(x: np.ndarray, shape: tuple[int, int], factor: int) -> np.ndarray:
    """Bilinear resampling of a coarse map onto a grid ``factor`` times finer, pixel
    centres aligned (fine pixel ``i`` is at coarse ``(i + 0.5) / factor - 0.5``)."""
    rows = (np.arange(shape[0]) + 0.5) / factor - 0.5
    cols = (np.arange(shape[1]) + 0.5) / factor - 0.5
    grid = np.meshgrid(rows, cols, indexing="ij")
    return ndimage.map_coordinates(x, grid, order=1, mode="nearest")


def _to_level(x: np.ndarray, level: int, target: int, shape: tuple[int, int]) -> np.ndarray:
    """A map at pyramid ``level`` brought to ``target`` (of grid ``shape``)."""
    for _ in range(level, target):
        x = _reduce(x)
    return _expand(x, shape, 2 ** (level - target)) if level > target else x


# -- features ----------------------------------------------------------------------
def _gabor_pair(theta_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Even and odd Gabor kernels preferring stripes at ``theta`` (degrees from the
    horizontal, counter-clockwise; image rows point down)."""
    v = np.arange(-_GABOR_HALF, _GABOR_HALF + 1, dtype=np.float64)
    x, y = np.meshgrid(v, -v)  # x right, y up
    t = np.deg2rad(theta_deg)
    across = -x * np.sin(t) + y * np.cos(t)  # distance across the stripes
    envelope = np.exp(-(x**2 + y**2) / (2 * _GABOR_SIGMA**2))
    kernels = []
    for phase in (0.0, np.pi / 2):
        k = envelope * np.cos(2 * np.pi * across / _GABOR_PERIOD + phase)
        k -= k.mean()
        kernels.append(k / np.sqrt(np.sum(k**2)))
    return kernels[0], kernels[1]


def _orientation(level: np.ndarray, pair) -> np.ndarray:
    even, odd = pair
    return np.abs(ndimage.convolve(level, even, mode="reflect")) + np.abs(
        ndimage.convolve(level, odd, mode="reflect")
    )


def _colour_opponents(image: np.ndarray, intensity: np.ndarray):
    """(R - G, B - Y) of an RGB image in [0, 1] (paper's colour channels)."""
    total = image.sum(axis=-1)
    lit = intensity > _LUMINANCE_FLOOR * intensity.max()
    safe = np.where(lit, total, 1.0)
    r, g, b = (np.where(lit, 3.0 * image[..., k] / safe, 0.0) for k in range(3))
    red = np.maximum(r - (g + b) / 2, 0)
    green = np.maximum(g - (r + b) / 2, 0)
    blue = np.maximum(b - (r + g) / 2, 0)
    yellow = np.maximum((r + g) / 2 - np.abs(r - g) / 2 - b, 0)
    return red - green, blue - yellow


# -- the N(.) operator -------------------------------------------------------------
def normalize_n(m: np.ndarray, local_max_threshold: float = 0.1) -> np.ndarray:
    """Itti et al.'s map normalisation N(.) with M = 1 (see the module docstring)."""
    lo, hi = float(m.min()), float(m.max())
    if hi - lo <= _FLAT:
        return np.zeros_like(m)
    m = (m - lo) / (hi - lo)
    peaks = (m >= ndimage.maximum_filter(m, size=3, mode="nearest")) & (m >= local_max_threshold)
    labels, count = ndimage.label(peaks, structure=np.ones((3, 3)))
    values = np.sort(np.asarray(ndimage.maximum(m, labels, np.arange(1, count + 1)), float))
    others = values[:-1]  # all but the global maximum
    mean_other = others.mean() if others.size else 0.0
    return m * (1.0 - mean_other) ** 2


# -- the map -------------------------------------------------------------------------
def _centre_surround(pyr, o: IttiKochOptions):
    for c in range(o.centre_min, o.centre_max + 1):
        for d in range(o.delta_min, o.delta_max + 1):
            surround = _expand(pyr[c + d], pyr[c].shape, 2**d)
            yield c, np.abs(pyr[c] - surround)


def _conspicuity(pyramids, o: IttiKochOptions, shape) -> np.ndarray:
    """Sum over (c, s) and the given pyramids of N(feature map), at ``map_level``."""
    total = np.zeros(shape)
    for pyr in pyramids:
        for c, fmap in _centre_surround(pyr, o):
            total += _to_level(normalize_n(fmap, o.local_max_threshold), c, o.map_level, shape)
    return total


def _saliency(image: np.ndarray, o: IttiKochOptions) -> np.ndarray:
    levels = o.centre_max + o.delta_max + 1
    intensity = image.mean(axis=-1)
    i_pyr = _pyramid(intensity, levels)
    shape = i_pyr[o.map_level].shape
    n = partial(normalize_n, local_max_threshold=o.local_max_threshold)
    maps = [n(_conspicuity([i_pyr], o, shape))]
    if image.shape[-1] == 3:
        rg, by = _colour_opponents(image, intensity)
        maps.append(n(_conspicuity([_pyramid(rg, levels), _pyramid(by, levels)], o, shape)))
    orient = np.zeros(shape)
    for k in range(o.orientations):
        pair = _gabor_pair(180.0 * k / o.orientations)
        o_pyr = [None] * o.centre_min + [_orientation(lv, pair) for lv in i_pyr[o.centre_min :]]
        orient += n(_conspicuity([o_pyr], o, shape))
    maps.append(n(orient))
    return cast(np.ndarray, sum(maps)) / len(maps)  # sum of arrays, never the start value 0


def itti_koch_map(images, options: IttiKochOptions | None = None) -> np.ndarray:
    """Itti-Koch-Niebur saliency of (N, H, W, C) images (C = 1 or 3), (N, H, W).

    Values lie in [0, 1]; a flat image gives an all-zero map. Raises ValueError for a
    wrong shape, NaN or infinite pixels, an image smaller than the levels need, or a
    bad option.
    """
    o = options or IttiKochOptions()
    _check_options(o)
    x = check_images(images, "itti-koch")
    h, w = x.shape[1:3]
    smallest = 2 ** (o.centre_max + 1)
    if min(h, w) < smallest:
        raise ValueError(
            f"method 'itti-koch': images must be at least {smallest} x {smallest} "
            f"pixels for centre levels up to {o.centre_max} (got {h} x {w}); "
            f"lower itti-koch.centre_max or upsample the images"
        )
    factor = 2**o.map_level
    out = np.zeros(x.shape[:3])
    for i, image in enumerate(x):
        out[i] = _expand(_saliency(unit_range(image), o), (h, w), factor)
    return out


@register_method
class IttiKoch(Method):
    name = "itti-koch"
    kind = "control"
    options = IttiKochOptions
    summary = "Itti-Koch-Niebur bottom-up saliency of the image alone (control)"
    reference = (
        "Itti, Koch & Niebur, A Model of Saliency-Based Visual Attention for Rapid "
        "Scene Analysis, IEEE PAMI 20(11):1254-1259, 1998; Gabor parameters from "
        "Walther & Koch's Saliency Toolbox (Neural Networks 19, 2006)"
    )

    def attribute(self, ctx: MethodContext, opts: IttiKochOptions):
        return itti_koch_map(ctx.images, opts)
