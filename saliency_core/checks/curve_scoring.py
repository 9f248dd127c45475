"""What deletion, insertion and ROAD curves share: the checked inputs, the class each
image is scored for, the pixel ranks, the cached compiled forward pass that scores
perturbed images in fixed-size chunks, and the :class:`CurveResult` with its config.

Ranking: a stable argsort of ``-map`` (``map`` for least-relevant-first), so equal
map values are moved in raster (row-major) index order. This makes results
deterministic; a constant map degenerates to a raster scan, which is what it should
score like. (RISE's code uses an unstable numpy argsort; ROAD adds 1e-4 random noise.)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import numpy as np

from ..gradients import GradientFunction, build_forward_fn
from .perturbation import CurveConfig, zero_normalized_value

__all__ = [
    "CurveResult",
    "check_curve_inputs",
    "class_scores",
    "clean_logits",
    "config_record",
    "finish_curve",
    "forward_for",
    "pixel_ranks",
    "resolve_targets",
    "run_chunks",
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
            ``perturbed_images``, ``padded_images``, ``perturb_traces`` (of the
            perturbation function shared by every curve on this image shape) and
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
def check_curve_inputs(classifier, images, maps):
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


def finish_curve(fractions, curves, config_dict, targets, counters) -> CurveResult:
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
