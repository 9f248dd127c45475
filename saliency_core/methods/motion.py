"""The motion control: dense optical-flow magnitude between consecutive video frames.

Model-independent (it ignores the classifier): where the video moves, not where
the network looks. It is the reference of the video metrics: a classifier's map
that follows the moving object agrees with it, a random map only at chance level.

Per frame ``t`` of an (N, H, W, C) sequence:

1. the frames are reduced to their channel mean (as the edge control does), mapped
   by one affine map from the sequence's range to [0, 255] (OpenCV's Farneback is
   not invariant to the intensity scale: the same 6 bundled-video frames at 64 px
   move a median 1.13 px on the object in [0, 255], 0.049 px scaled to [0, 25.5]
   and 5e-6 px scaled to [0, 1], so without it the frames of a classifier that
   takes inputs in [0, 1] or standardised would show no motion), and
   reflect-padded by ``winsize + poly_n`` pixels, because OpenCV's Farneback returns
   flow along the bottom and right borders even for two identical frames (up to
   1.04 px on a 64 x 64 bundled-video frame in this project's measurement; under
   1e-5 px after padding);
2. dense flow by Farneback's polynomial-expansion method (Farneback 2003,
   "Two-frame motion estimation based on polynomial expansion", SCIA), through
   ``cv2.calcOpticalFlowFarneback``, from frame ``t - 1`` to frame ``t``; frame 0,
   which has no predecessor, uses the flow from frame 0 to frame 1. OpenCV returns
   the flow on the grid of its first frame, so map ``t`` (t >= 1) is the motion
   that brought frame ``t - 1`` to frame ``t``, drawn where it started;
3. its magnitude (pixels per frame), Gaussian-smoothed with ``sigma``, with values
   below ``static_floor`` set to exactly 0: a static region's flow is OpenCV's
   numerical residue (under 1e-5 px), whose ordering carries no motion yet follows
   the image's texture (Spearman 0.45-0.51 with the edge control on the bundled
   video at 224 px), so a rank comparison with the raw map would reward texture;
   zeroed, static pixels are tied;
4. divided by ``max(peak, noise_floor)``, the larger of its peak and the noise floor:
   maps lie in [0, 1], a frame moving by more than the floor peaks at 1, and a static
   frame stays near 0 instead of having its noise stretched to 1.

OpenCV (package ``opencv-contrib-python-headless`` or any ``opencv-python``) is an
optional dependency (``pip install 'saliency-bench[video]'``), imported only when
the method runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Method, MethodContext, register_method

__all__ = ["MotionOptions", "motion_map"]


@dataclass(frozen=True)
class MotionOptions:
    """Farneback parameters and the map's post-processing.

    The Farneback values are those of OpenCV's dense optical-flow tutorial
    (docs.opencv.org, "Optical Flow": ``calcOpticalFlowFarneback(prev, next, None,
    0.5, 3, 15, 3, 5, 1.2, 0)``); the API reference says ``poly_n`` is "typically 5
    or 7", with ``poly_sigma`` 1.1 for 5 and 1.5 for 7.

    Attributes:
        pyr_scale: Scale between pyramid levels (< 1; 0.5 halves each level).
        levels: Pyramid levels including the full-size image (1: no pyramid).
        winsize: Averaging window in pixels; larger is more robust to noise and
            catches faster motion, with a blurrier field.
        iterations: Iterations at each pyramid level.
        poly_n: Neighbourhood of the per-pixel polynomial expansion, pixels.
        poly_sigma: Gaussian sigma of that expansion's weights, pixels.
        sigma: Gaussian smoothing of the flow magnitude, pixels (this project's
            choice: small next to ``winsize``; 0 disables it).
        noise_floor: Pixels per frame; the smallest peak that is scaled to 1 (this
            project's choice: on a static 224 px bundled-video frame with Gaussian
            pixel noise of standard deviation 3 grey levels, the smoothed flow peaks
            at 0.28-0.70 px over 24 frames; the moving object peaks at 4.8-5.7 px).
        static_floor: Pixels per frame; smoothed flow below it is no motion and set
            to 0 (this project's choice: the residue on two identical bundled-video
            frames peaks at 3.5e-6 px at 64 px and 6.2e-6 px at 224 px, over 1000x
            below; pixel noise of 3 grey levels moves the flow 0.28-0.70 px, 28x
            above). With it, the Spearman rank correlation of Lite0's gradient
            maps with the motion maps of the 24-frame bundled video fell from 0.42 to
            0.23: half the raw value was texture read from the residue.
    """

    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    sigma: float = 2.0
    noise_floor: float = 1.0
    static_floor: float = 0.01


def _import_cv2():
    try:
        import cv2
    except ImportError as exc:
        raise ImportError(
            "the motion method needs OpenCV (package 'opencv-contrib-python-headless'); "
            "install it with pip install 'saliency-bench[video]'"
        ) from exc
    return cv2


def _check(opts: MotionOptions) -> None:
    problems = []
    if not 0.0 < opts.pyr_scale < 1.0:
        problems.append(f"pyr_scale must be in (0, 1), got {opts.pyr_scale}")
    for key in ("levels", "winsize", "iterations"):
        if getattr(opts, key) < 1:
            problems.append(f"{key} must be >= 1, got {getattr(opts, key)}")
    if opts.poly_n < 3 or opts.poly_n % 2 == 0:
        problems.append(f"poly_n must be an odd integer >= 3 (typically 5 or 7), got {opts.poly_n}")
    for key in ("poly_sigma", "noise_floor"):
        if not getattr(opts, key) > 0:
            problems.append(f"{key} must be > 0, got {getattr(opts, key)}")
    for key in ("sigma", "static_floor"):
        if not getattr(opts, key) >= 0:
            problems.append(f"{key} must be >= 0, got {getattr(opts, key)}")
    if problems:
        raise ValueError("motion options: " + "; ".join(problems))


def motion_map(frames, opts: MotionOptions = MotionOptions()) -> np.ndarray:
    """Motion saliency of consecutive frames (see the module docstring for the steps).

    Args:
        frames: (N, H, W, C) or (N, H, W) consecutive frames, N >= 2, any intensity
            scale (uint8 or float).
        opts: Farneback parameters, smoothing and noise floor.

    Returns:
        (N, H, W) float64 maps in [0, 1].
    """
    from scipy import ndimage

    _check(opts)
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4):
        raise ValueError(f"expected frames (N, H, W, C) or (N, H, W), got shape {frames.shape}")
    if len(frames) < 2:
        raise ValueError(f"motion needs at least 2 consecutive frames, got {len(frames)}")
    if not np.isfinite(frames).all():
        raise ValueError("frames contain NaN or infinite values")
    cv2 = _import_cv2()
    gray = frames.astype(np.float64)
    if gray.ndim == 4:
        gray = gray.mean(axis=-1)
    lo, hi = float(gray.min()), float(gray.max())
    gray = ((gray - lo) * (255.0 / (hi - lo) if hi > lo else 0.0)).astype(np.float32)
    pad = opts.winsize + opts.poly_n
    gray = np.pad(gray, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    h, w = frames.shape[1:3]
    out = np.empty((len(frames), h, w))
    for t in range(len(frames)):
        first, second = (t - 1, t) if t > 0 else (0, 1)
        flow = cv2.calcOpticalFlowFarneback(
            gray[first],
            gray[second],
            None,
            opts.pyr_scale,
            opts.levels,
            opts.winsize,
            opts.iterations,
            opts.poly_n,
            opts.poly_sigma,
            0,
        )[pad : pad + h, pad : pad + w]
        magnitude = np.hypot(flow[..., 0], flow[..., 1]).astype(np.float64)
        if opts.sigma > 0:
            magnitude = ndimage.gaussian_filter(magnitude, opts.sigma, mode="nearest")
        magnitude[magnitude < opts.static_floor] = 0.0
        out[t] = magnitude / max(float(magnitude.max()), opts.noise_floor)
    return out


@register_method
class Motion(Method):
    name = "motion"
    kind = "control"
    options = MotionOptions
    summary = "optical-flow magnitude between consecutive video frames (control)"
    reference = (
        "Farneback, SCIA 2003 (dense optical flow by polynomial expansion), "
        "via OpenCV calcOpticalFlowFarneback"
    )
    needs_sequence = True
    motion_reference = True  # what motion agreement compares against (found by this flag)

    def attribute(self, ctx: MethodContext, opts: MotionOptions):
        return motion_map(ctx.images, opts)
