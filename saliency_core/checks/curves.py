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

Ranking: a stable argsort of ``-map`` (``map`` for least-relevant-first), so equal
map values are moved in raster (row-major) index order. This makes results
deterministic; a constant map degenerates to a raster scan, which is what it should
score like. (RISE's code uses an unstable numpy argsort; ROAD adds 1e-4 random noise.)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..gradients import GradientFunction, build_forward_fn
from ..models.classifier import as_classifier
from .perturbation import PRESETS, CurveConfig, rise_blur_kernel, zero_normalized_value

__all__ = [
    "CurveResult",
    "deletion_curve",
    "insertion_curve",
    "pixel_ranks",
    "curve_substrate",
    "resolve_targets",
]


@dataclass
class CurveResult:
    """One curve per image and their areas.

    Attributes:
        fractions: (S,) fraction of the H x W pixels moved at each point, in [0, 1].
        curves: (N, S) score after each step: softmax probability or logit (see
            ``config["score"]``) of the image's target class.
        auc: (N,) area under each image's curve, ``np.trapezoid(curve, fractions)``.
        mean_curve_auc: Area under the mean curve (the number RISE reports). The
            trapezoid rule is linear, so this equals ``auc.mean()``.
        config: The protocol as run: every :class:`CurveConfig` field plus the
            resolved step, image size, substrate value, tie-breaking, variant and
            the targets (``targets``, ``target_source``).
        targets: (N,) class scored for each image: the ``targets`` given, or the
            clean image's top-1 class where none was given (or -1).
        counters: How the work ran: ``chunks`` (compiled calls), ``chunk_size``,
            ``perturbed_images``, ``padded_images``, ``perturb_traces`` and
            ``forward_traces`` (1 each when nothing retraced).
    """

    fractions: np.ndarray
    curves: np.ndarray
    auc: np.ndarray
    mean_curve_auc: float
    config: dict
    targets: np.ndarray
    counters: dict = field(default_factory=dict)


# -- inputs ----------------------------------------------------------------------
def _check_inputs(classifier, images, maps):
    images = np.asarray(images, dtype=classifier.dtype)
    if images.ndim == len(classifier.input_shape):
        images = images[None]
    if images.shape[1:] != tuple(classifier.input_shape):
        raise ValueError(
            f"images have shape {images.shape[1:]} per image; model "
            f"{classifier.name!r} expects {classifier.input_shape}"
        )
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim == 4 and maps.shape[-1] == 1:
        maps = maps[..., 0]
    if maps.shape != images.shape[:3]:
        raise ValueError(
            f"maps must be (N, H, W) = {images.shape[:3]} (reduce channels first), got {maps.shape}"
        )
    if not np.isfinite(images).all() or not np.isfinite(maps).all():
        raise ValueError("images and maps must be finite")
    if len(images) == 0:
        raise ValueError("no images given")
    return images, maps


def resolve_targets(targets, logits: np.ndarray) -> tuple[np.ndarray, str]:
    """The class each image is scored for, (N,) int64, and how it was chosen.

    Args:
        targets: None (every image's clean top-1 class), or class ids broadcastable
            to (N,); -1 stands for that image's clean top-1 class.
        logits: (N, K) logits of the clean images.

    Returns:
        ``(targets, source)`` with ``source`` "clean top-1" (None given), "given", or
        "given (-1: clean top-1)".
    """
    logits = np.asarray(logits)
    n, k = logits.shape
    top1 = np.argmax(logits, axis=1)
    if targets is None:
        return top1.astype(np.int64), "clean top-1"
    given = np.asarray(targets)
    if given.dtype.kind not in "iu":
        raise ValueError(f"targets must be integer class ids, got dtype {given.dtype}")
    try:
        given = np.broadcast_to(given.astype(np.int64), (n,))
    except ValueError:
        raise ValueError(
            f"targets must be one class id or one per image ({n}), got shape {np.shape(targets)}"
        ) from None
    if given.min() < -1 or given.max() >= k:
        raise ValueError(
            f"targets must be class ids in [0, {k}) or -1 for the clean top-1; "
            f"got {given.min()}..{given.max()}"
        )
    source = "given (-1: clean top-1)" if (given < 0).any() else "given"
    return np.where(given < 0, top1, given).astype(np.int64), source


def pixel_ranks(maps: np.ndarray, order: str = "most-relevant-first") -> np.ndarray:
    """Rank of every pixel in the removal order, (N, H*W) int32; 0 is moved first.

    A stable argsort of ``-map`` ("most-relevant-first") or ``map``
    ("least-relevant-first"): ties keep raster index order. A pixel is moved by
    step ``i`` exactly when ``rank < k_i``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    flat = maps.reshape(len(maps), -1)
    if order == "most-relevant-first":
        key = -flat
    elif order == "least-relevant-first":
        key = flat
    else:
        raise ValueError(f"unknown order {order!r}")
    sequence = np.argsort(key, axis=1, kind="stable")
    ranks = np.empty(flat.shape, np.int32)
    np.put_along_axis(ranks, sequence, np.arange(flat.shape[1], dtype=np.int32)[None], axis=1)
    return ranks


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


# -- compiled pieces -------------------------------------------------------------------
_FORWARD_CACHE: "OrderedDict[int, tuple[object, GradientFunction]]" = OrderedDict()
_FORWARD_CACHE_SIZE = 4


def forward_for(classifier, forward: GradientFunction | None = None, *, source=None) -> GradientFunction:
    """The XLA forward pass used to score perturbed images.

    Reuses ``forward`` when given (checked against the classifier's input), else one
    cached per ``source`` (the model object the caller passed, defaulting to the
    classifier; a few are kept), so repeated curves on the same model reuse one
    trace and one XLA compilation per chunk shape.
    """
    if forward is not None:
        if tuple(forward.input_shape) != tuple(classifier.input_shape):
            raise ValueError(
                f"forward function takes {forward.input_shape}, classifier "
                f"{classifier.name!r} takes {classifier.input_shape}"
            )
        return forward
    source = classifier if source is None else source
    key = id(source)
    hit = _FORWARD_CACHE.get(key)
    if hit is not None and hit[0] is source:
        _FORWARD_CACHE.move_to_end(key)
        return hit[1]
    fn = build_forward_fn(classifier, variant="xla")
    _FORWARD_CACHE[key] = (source, fn)
    while len(_FORWARD_CACHE) > _FORWARD_CACHE_SIZE:
        _FORWARD_CACHE.popitem(last=False)
    return fn


@dataclass
class _Compiled:
    fn: Any = None  # the tf.function, once built
    traces: int = 0
    calls: int = 0


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


def class_scores(logits: np.ndarray, targets: np.ndarray, score: str):
    """Score of each row's target class, (B,) float64, and the targets used.

    ``targets`` < 0 means the row's own top-1 class. "probability" is the softmax
    of the logits (computed in float64), "logit" the raw logit.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    chosen = np.where(targets < 0, np.argmax(logits, axis=1), targets)
    if score == "probability":
        shifted = logits - logits.max(axis=1, keepdims=True)
        values = np.exp(shifted)
        values /= values.sum(axis=1, keepdims=True)
    elif score == "logit":
        values = logits
    else:
        raise ValueError(f"unknown score {score!r}")
    return np.take_along_axis(values, chosen[:, None], axis=1)[:, 0], chosen


def run_chunks(forward: GradientFunction, make_chunk, total: int, chunk: int):
    """Logits (total, K) from ``forward`` over ``total`` inputs in fixed-size chunks.

    ``make_chunk(index)`` returns the chunk's input tensor for the given (chunk,)
    int array of item indices; the last chunk's indices are padded with its first
    index so every call has the same shape. Returns (logits, number of chunks).
    """
    import tensorflow as tf

    logits, calls = [], 0
    for start in range(0, total, chunk):
        index = np.arange(start, min(start + chunk, total))
        count = len(index)
        if count < chunk:
            index = np.concatenate([index, np.full(chunk - count, index[0])])
        x = make_chunk(index)
        logits.append(np.asarray(forward(tf.convert_to_tensor(x)))[:count])
        calls += 1
    return np.concatenate(logits), calls


def clean_logits(forward: GradientFunction, images: np.ndarray, chunk: int):
    """Logits of the unperturbed images, (N, K), in chunks of the same size."""
    return run_chunks(forward, lambda index: images[index], len(images), chunk)


def _finish(fractions, curves, config_dict, targets, counters) -> CurveResult:
    auc = np.array([np.trapezoid(c, fractions) for c in curves])
    mean_auc = float(np.trapezoid(curves.mean(axis=0), fractions))
    return CurveResult(
        fractions=fractions,
        curves=curves,
        auc=auc,
        mean_curve_auc=mean_auc,
        config=config_dict,
        targets=targets,
        counters=counters,
    )


def config_record(
    config: CurveConfig, classifier, forward, *, curve, height, width, targets, target_source
) -> dict:
    """The config dict stored with a result: the dataclass plus resolved settings,
    including the scored ``targets`` (one class id per image) and how they were chosen."""
    record = asdict(config)
    record["fractions"] = list(config.fractions) if config.fractions is not None else None
    if config.fractions is None:
        record["pixels_per_step"] = config.resolve_pixels_per_step(height, width)
    record.update(
        curve=curve,
        points=int(len(config.removed_counts(height, width))),
        image_size=[int(height), int(width)],
        model=classifier.name,
        preprocessing=classifier.preprocessing.name if classifier.raw_input else "as given",
        forward_variant=forward.variant,
        tie_break="stable argsort: equal map values move in raster (row-major) order",
        auc="np.trapezoid(curve, fractions) with fractions in [0, 1]",
        targets=[int(t) for t in targets],
        target_source=target_source,
    )
    if config.substrate == "zero-normalized":
        record["substrate_value"] = [float(v) for v in zero_normalized_value(classifier)]
    return record


# -- the curves ----------------------------------------------------------------------
def _curve(
    classifier, images, maps, config: CurveConfig, forward, targets, *, insertion: bool
) -> CurveResult:
    import tensorflow as tf

    source, classifier = classifier, as_classifier(classifier)
    images, maps = _check_inputs(classifier, images, maps)
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
    perturb = _build_perturb_fn(images.shape[1:], images.dtype.name)
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
        perturb_calls=perturb.calls,
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
    return _finish(counts / float(height * width), scores.reshape(n, steps), record, targets, counters)


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
