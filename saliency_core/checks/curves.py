"""Deletion and insertion curves (Petsiuk et al. 2018, RISE) on the device.

A saliency map ranks the H x W pixel positions of its image; a deletion curve moves
them, in that order and all channels together, from the image to a substrate, and
records the model's score for the class the map explains after each step (``targets``;
by default the class it predicts on the clean image). An insertion curve does the
reverse (substrate -> image). A faithful map makes the deletion curve fall fast (low
AUC) and the insertion curve rise fast (high AUC).

How it runs: every (image, step) pair is one perturbed image. The pixel ranks, the
images and the substrates are put on the device once; one compiled function builds
a whole chunk of perturbed images from ``(image index, pixels moved)`` pairs with a
vectorised comparison ``rank < k``, and the classifier's compiled forward pass
(:func:`saliency_core.gradients.build_forward_fn`) scores the chunk. The only Python
loop is over chunks; the last chunk is padded so XLA compiles each function once.

Pixels move in the order of :func:`~saliency_core.checks.curve_scoring.pixel_ranks`
(ties in raster order); the parts shared with ROAD (inputs, targets, the forward
pass in chunks, the result) are in :mod:`saliency_core.checks.curve_scoring`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..gradients import GradientFunction
from ..models.classifier import as_classifier
from .curve_scoring import (
    CurveResult,
    check_curve_inputs,
    class_scores,
    clean_logits,
    config_record,
    finish_curve,
    forward_for,
    pixel_ranks,
    resolve_targets,
    run_chunks,
)
from .perturbation import PRESETS, CurveConfig, rise_blur_kernel, zero_normalized_value

__all__ = ["curve_substrate", "deletion_curve", "insertion_curve"]


def curve_substrate(classifier, images: np.ndarray, config: CurveConfig) -> np.ndarray:
    """The substrate images (N, H, W, C) in the classifier's raw input space.

    "zero-normalized": the raw value mapping to 0 after preprocessing, everywhere.
    "blur": RISE's Gaussian blur, done as in its code on the normalised image with
    zero padding; since the value transform is affine per channel this equals
    blurring ``x - r0`` with zero padding and adding back ``r0``
    (``r0`` = the zero-normalized value), which is what is computed here.
    "mean": each image's own per-channel mean.
    """
    images = np.asarray(images)
    r0 = zero_normalized_value(classifier).astype(images.dtype)
    if config.substrate == "zero-normalized":
        return np.broadcast_to(r0, images.shape).copy()
    if config.substrate == "mean":
        return np.broadcast_to(images.mean(axis=(1, 2), keepdims=True), images.shape).copy()
    if config.substrate == "blur":
        import tensorflow as tf

        channels = images.shape[-1]
        kernel = rise_blur_kernel(config.blur_kernel, config.blur_sigma)
        kernel = np.repeat(kernel[:, :, None, None], channels, axis=2).astype(images.dtype)
        blurred = tf.nn.depthwise_conv2d(
            tf.constant(images - r0), tf.constant(kernel), strides=[1, 1, 1, 1], padding="SAME"
        )
        return blurred.numpy() + r0
    raise ValueError(
        f"substrate {config.substrate!r} depends on the removed pixels; "
        "use saliency_core.checks.road.road_curve for 'noisy-linear'"
    )


@dataclass
class _Compiled:
    fn: Any = None  # the tf.function, once built
    traces: int = 0
    calls: int = 0


_PERTURB_CACHE: dict = {}
_PERTURB_CACHE_SIZE = 8


def _perturb_fn(shape, dtype) -> _Compiled:
    """The perturbation function for images of ``shape`` and ``dtype``, built once per
    process: every curve of a check (each chunk, method and ordering) reuses its trace
    and its XLA compilations. (Built anew per curve, each function kept its own graph
    and compiled code: a check's memory grew with every chunk.)"""
    key = (tuple(int(d) for d in shape), str(dtype))
    hit = _PERTURB_CACHE.pop(key, None) or _build_perturb_fn(*key)
    _PERTURB_CACHE[key] = hit  # most recently used last
    while len(_PERTURB_CACHE) > _PERTURB_CACHE_SIZE:
        _PERTURB_CACHE.pop(next(iter(_PERTURB_CACHE)))
    return hit


def _build_perturb_fn(shape, dtype) -> _Compiled:
    """One XLA function: (start, finish, ranks, pair_image, pair_k) -> perturbed chunk.

    For pair j the output is ``start[pair_image[j]]`` with every pixel whose rank is
    below ``pair_k[j]`` taken from ``finish[pair_image[j]]`` instead, i.e.
    ``mask * finish + (1 - mask) * start`` with ``mask = rank < k``.
    """
    import tensorflow as tf

    height, width, channels = shape
    out = _Compiled()

    def body(start, finish, ranks, pair_image, pair_k):
        out.traces += 1  # trace-time side effect only
        moved = tf.gather(ranks, pair_image) < pair_k[:, None]  # (B, H*W) bool
        moved = tf.reshape(moved, (-1, height, width, 1))
        return tf.where(moved, tf.gather(finish, pair_image), tf.gather(start, pair_image))

    image_spec = tf.TensorSpec((None, height, width, channels), dtype)
    signature = [
        image_spec,
        image_spec,
        tf.TensorSpec((None, height * width), tf.int32),
        tf.TensorSpec((None,), tf.int32),
        tf.TensorSpec((None,), tf.int32),
    ]
    out.fn = tf.function(body, input_signature=signature, jit_compile=True, reduce_retracing=True)
    return out


# -- the curves ----------------------------------------------------------------------
def _curve(
    classifier, images, maps, config: CurveConfig, forward, targets, *, insertion: bool
) -> CurveResult:
    import tensorflow as tf

    source, classifier = classifier, as_classifier(classifier)
    images, maps = check_curve_inputs(classifier, images, maps)
    if config.substrate == "noisy-linear":
        raise ValueError(
            "the 'noisy-linear' substrate depends on the removed pixels; "
            "use saliency_core.checks.road.road_curve"
        )
    forward = forward_for(classifier, forward, source=source)
    n, height, width, _ = images.shape
    counts = config.removed_counts(height, width)
    steps = len(counts)
    chunk = min(config.chunk_size, n * steps)
    traces_before = forward.traces

    logits, clean_calls = clean_logits(forward, images, chunk)
    targets, target_source = resolve_targets(targets, logits)

    substrate = curve_substrate(classifier, images, config)
    image_t, substrate_t = tf.constant(images), tf.constant(substrate)
    start, finish = (substrate_t, image_t) if insertion else (image_t, substrate_t)
    ranks = tf.constant(pixel_ranks(maps, config.order))
    perturb = _perturb_fn(images.shape[1:], images.dtype.name)
    calls_before = perturb.calls
    pair_image = (np.arange(n * steps) // steps).astype(np.int32)
    pair_k = np.tile(counts, n).astype(np.int32)

    def make_chunk(index):
        perturb.calls += 1
        return perturb.fn(start, finish, ranks, tf.constant(pair_image[index]), tf.constant(pair_k[index]))

    logits, calls = run_chunks(forward, make_chunk, n * steps, chunk)
    scores, _ = class_scores(logits, np.repeat(targets, steps), config.score)
    counters = dict(
        chunks=calls,
        clean_chunks=clean_calls,
        chunk_size=chunk,
        perturbed_images=n * steps,
        padded_images=calls * chunk - n * steps,
        perturb_traces=perturb.traces,
        perturb_calls=perturb.calls - calls_before,
        forward_traces=forward.traces,
        forward_new_traces=forward.traces - traces_before,
    )
    record = config_record(
        config,
        classifier,
        forward,
        curve="insert" if insertion else "delete",
        height=height,
        width=width,
        targets=targets,
        target_source=target_source,
    )
    return finish_curve(counts / float(height * width), scores.reshape(n, steps), record, targets, counters)


def deletion_curve(
    classifier,
    images,
    maps,
    *,
    targets=None,
    config: CurveConfig = PRESETS["rise-deletion"],
    forward: GradientFunction | None = None,
) -> CurveResult:
    """Deletion curve: move pixels from each image to the substrate, most relevant first.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier` (or a Keras
            model, taken with its inputs as given).
        images: (N, H, W, C) in the classifier's input space (raw RGB in [0, 255]
            for registry models).
        maps: (N, H, W) saliency maps; only their ranking matters.
        targets: The class each map explains, scored along the curve: one class id
            per image (or one for all), -1 for that image's clean top-1 class; None
            scores every image's clean top-1 class. Pass the maps' own targets
            (``SaliencyResult.targets``) when they were made for other classes.
        config: The protocol (see :data:`~saliency_core.checks.perturbation.PRESETS`).
        forward: An existing forward function for this classifier, to reuse its
            compiled code; by default one XLA forward pass is built and cached per
            classifier.

    Returns:
        :class:`CurveResult`; lower AUC is better (the score falls fast).

    Example:
        >>> import keras, numpy as np
        >>> m = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
        >>> r = deletion_curve(m, np.ones((1, 4, 4, 1)), np.arange(16.).reshape(1, 4, 4))
        >>> r.curves.shape  # 16 px / 224 rounds to 1 px per step: 17 points
        (1, 17)
    """
    return _curve(classifier, images, maps, config, forward, targets, insertion=False)


def insertion_curve(
    classifier,
    images,
    maps,
    *,
    targets=None,
    config: CurveConfig = PRESETS["rise-insertion"],
    forward: GradientFunction | None = None,
) -> CurveResult:
    """Insertion curve: start from the substrate and put image pixels back in map order.

    Same arguments as :func:`deletion_curve`; the default substrate is RISE's blur.
    Returns a :class:`CurveResult`; higher AUC is better (the score rises fast).
    """
    return _curve(classifier, images, maps, config, forward, targets, insertion=True)
