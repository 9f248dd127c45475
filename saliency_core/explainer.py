"""The public verb: saliency maps for a batch of images.

:class:`Explainer` owns one compiled gradient function per (variant, score) and
feeds it fixed-size chunks, so repeated calls and any number of images reuse one
trace (and, for XLA, one compilation). :func:`saliency` is the one-call form.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from .devices import device_scope, resolve_device, runs_on_cpu
from .gradients import build_gradient_fn
from .methods.base import MethodContext, get_method, options_record, resolve_options
from .models.classifier import Classifier, as_classifier
from .reduce import REDUCTIONS, Reduction, normalize_maps, reduce_channels

__all__ = ["Explainer", "SaliencyResult", "saliency", "pad_chunk", "XlaOnCpuWarning"]


class XlaOnCpuWarning(UserWarning):
    """``variant="xla"`` on a CPU for a network with depthwise convolutions."""


@dataclass
class SaliencyResult:
    """Maps and the forward pass they came from.

    Attributes:
        maps: (N, H, W) reduced maps, or (N, H, W, C) for ``reduce="none"``.
        logits: (N, K) logits of the clean images.
        targets: (N,) class ids the maps explain.
        method: The method's registry name.
        options: The method's options as run (with the seed), for the record.
    """

    maps: np.ndarray
    logits: np.ndarray
    targets: np.ndarray
    method: str = ""
    options: dict = field(default_factory=dict)


class Explainer:
    """Computes saliency for one classifier; keeps its compiled functions.

    Args:
        model: A :class:`Classifier` or a Keras model (taken with its inputs as given).
        variant: "eager", "function" or "xla".
        score: "logit" or "probability".
        batch_size: Images per call of the compiled function. Inputs are split into
            chunks of ``min(batch_size, N)``; a short last chunk is padded so the
            compiled function always sees one shape.
        device: "cpu", "gpu", "gpu:N" or None (TensorFlow's default placement).
        precision: "float32", or "bfloat16" / "float16" (mixed: the network computes
            in that precision, scores, gradients and maps are float32; the maps
            approximate the float32 ones, see :mod:`saliency_core.precision`). A
            device without fast low-precision kernels still runs it, slowly.
    """

    _source: object  # the model _explainer_for was given (set there, for its cache)

    def __init__(
        self, model, *, variant="xla", score="logit", batch_size=16, device=None, precision="float32"
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.classifier: Classifier = as_classifier(model)
        self.variant, self.score, self.batch_size = variant, score, batch_size
        self.precision = precision
        self.device = resolve_device(device)
        self.fn = build_gradient_fn(self.classifier, variant=variant, score=score, precision=precision)
        self.calls = 0
        if variant == "xla" and runs_on_cpu(self.device) and _has_depthwise(self.classifier.model):
            warnings.warn(
                f"{self.classifier.name}: variant='xla' on a CPU is slow for depthwise "
                f"convolutions (9-17x slower than 'function' for MobileNetV2, EfficientNetB0 "
                f"and EfficientNet-Lite0 in this project's measurements); variant='function' "
                f"(--variant function) gives the same maps",
                XlaOnCpuWarning,
                stacklevel=2,
            )

    # -- the batched gradient -------------------------------------------------
    def gradients(self, images: np.ndarray, targets: np.ndarray | None = None):
        """Raw gradients ``(N, H, W, C)``, logits ``(N, K)`` and targets ``(N,)``."""
        import tensorflow as tf

        images = self._check_images(images)
        n = len(images)
        targets = self._check_targets(targets, n)
        chunk = min(self.batch_size, n)
        grads, logits, chosen = [], [], []
        with device_scope(self.device):
            for start in range(0, n, chunk):
                x, t = images[start : start + chunk], targets[start : start + chunk]
                m = len(x)
                x, t = pad_chunk(x, chunk), pad_chunk(t, chunk)  # keep one shape
                g, lg, tt = self.fn(tf.constant(x), tf.constant(t))
                self.calls += 1
                grads.append(g.numpy()[:m])
                logits.append(lg.numpy()[:m])
                chosen.append(tt.numpy()[:m])
        return np.concatenate(grads), np.concatenate(logits), np.concatenate(chosen)

    def explain(
        self,
        images,
        *,
        targets=None,
        method: str | None = None,
        reduce: Reduction = "max_abs",
        normalize: bool = False,
        options=None,
        seed: int = 0,
        sequence: bool = False,
    ) -> SaliencyResult:
        """Saliency maps for ``images`` with one registered method or control.

        Args:
            images: (N, H, W, C) in the classifier's input space (raw RGB in
                [0, 255] for registry models; the model's own input otherwise).
            targets: Class id per image, or None for each image's top-1 class.
            method: A registered method (``saliency-bench list methods``); None is the
                primary method, the vanilla gradient.
            reduce: Channel reduction ("max_abs", "sum_abs", "sum", "l2", "none").
            normalize: Min-max scale each map to [0, 1] (a constant map gives zeros).
            options: The method's options: None (its defaults), its options
                dataclass, or a mapping of overrides ({"samples": 50}).
            seed: Seed of the method's randomness (SmoothGrad noise, the random map).
            sequence: True when ``images`` are consecutive video frames.
        """
        if reduce not in REDUCTIONS:
            raise ValueError(f"unknown reduce {reduce!r}; choose one of {', '.join(REDUCTIONS)}")
        if method is None:
            from .checks.settings import primary_method

            method = primary_method()
        unit = get_method(method)
        opts = resolve_options(unit, options)
        if unit.needs_sequence and not sequence:
            raise ValueError(f"method {unit.name!r} needs consecutive video frames, not still images")
        images = self._check_images(images)
        # One pass gives the clean gradient, the logits and the resolved targets.
        clean, logits, chosen = self.gradients(images, targets)
        ctx = MethodContext(
            images=images,
            targets=chosen,
            grad=lambda x, t: self.gradients(x, t)[0],
            clean=clean if unit.kind == "attribution" else None,
            seed=int(seed),
            batch_size=self.batch_size,
            sequence=sequence,
        )
        out = np.asarray(unit.attribute(ctx, opts))
        if out.shape == images.shape:
            maps = reduce_channels(out, reduce)
        elif out.shape == images.shape[:3]:
            maps = out if reduce != "none" else np.repeat(out[..., None], images.shape[-1], -1)
        else:
            raise ValueError(
                f"method {unit.name!r} returned shape {out.shape}; expected "
                f"{images.shape} or {images.shape[:3]}"
            )
        if normalize:
            maps = normalize_maps(maps)
        record = {**options_record(opts), "seed": int(seed)}
        return SaliencyResult(maps=maps, logits=logits, targets=chosen, method=unit.name, options=record)

    # -- helpers ----------------------------------------------------------------
    def _check_images(self, images) -> np.ndarray:
        images = np.asarray(images, dtype=self.classifier.dtype)
        expected = self.classifier.input_shape
        if images.ndim == len(expected):
            images = images[None]
        if images.shape[1:] != expected:
            raise ValueError(
                f"images have shape {images.shape[1:]} per image; model "
                f"{self.classifier.name!r} expects {expected}"
                + (" (use classifier.prepare() to resize raw photos)" if self.classifier.raw_input else "")
            )
        if len(images) == 0:
            raise ValueError("no images given")
        bad = np.flatnonzero(~np.isfinite(images.reshape(len(images), -1)).all(axis=1))
        if bad.size:
            raise ValueError(f"image(s) at index {bad.tolist()} contain NaN or infinite values")
        return images

    def _check_targets(self, targets, n) -> np.ndarray:
        if targets is None:
            return np.full(n, -1, np.int32)
        targets = np.broadcast_to(np.asarray(targets, dtype=np.int64), (n,))
        k = self.classifier.num_classes
        if targets.min() < -1 or targets.max() >= k:
            raise ValueError(
                f"targets must be class ids in [0, {k}) or -1 for top-1; got {targets.min()}..{targets.max()}"
            )
        return targets.astype(np.int32)


def pad_chunk(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` padded to ``size`` rows with copies of its first row, so a compiled function
    sees one shape (the padded rows' results are dropped)."""
    return x if len(x) >= size else np.concatenate([x, np.repeat(x[:1], size - len(x), axis=0)])


def _has_depthwise(model) -> bool:
    import keras

    kinds = (keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    layers = (
        model._flatten_layers(include_self=False, recursive=True) if hasattr(model, "_flatten_layers") else []
    )
    return any(isinstance(layer, kinds) for layer in layers)


_CACHE: "OrderedDict[tuple, Explainer]" = OrderedDict()
_CACHE_SIZE = 8


def _explainer_for(model, variant, score, batch_size, device, precision="float32") -> Explainer:
    """Reuse an Explainer (and its trace) for the same model and settings."""
    key = (id(model), variant, score, batch_size, device, precision)
    hit = _CACHE.get(key)
    if hit is not None and (
        hit.classifier is model or hit.classifier.model is model or getattr(hit, "_source", None) is model
    ):
        _CACHE.move_to_end(key)
        return hit
    explainer = Explainer(
        model, variant=variant, score=score, batch_size=batch_size, device=device, precision=precision
    )
    explainer._source = model
    _CACHE[key] = explainer
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return explainer


def saliency(
    model,
    images,
    *,
    targets=None,
    variant="xla",
    score="logit",
    reduce="max_abs",
    method=None,
    normalize=False,
    batch_size=16,
    device=None,
    options=None,
    seed: int = 0,
    precision="float32",
) -> np.ndarray:
    """Saliency maps for a batch of images.

    Args:
        model: A :class:`Classifier` (registry models accept raw RGB in [0, 255]
            and apply their own preprocessing) or a Keras model (inputs taken as
            given; a final softmax is bypassed to reach the logits).
        images: (N, H, W, C) array, or one (H, W, C) image.
        targets: Class ids (N,), or None for each image's top-1 class.
        variant: "eager", "function" or "xla": the same maps, different speed.
        score: "logit" (pre-softmax) or "probability" (softmax).
        reduce: "max_abs" (Simonyan et al.), "sum_abs", "sum", "l2" or "none".
        method: A registered method or control (``saliency-bench list methods``); None
            is the primary method, the vanilla gradient.
        normalize: Min-max scale each map to [0, 1].
        batch_size: Images per compiled call.
        device: "cpu", "gpu", "gpu:N", or None.
        options: The method's options (None: defaults; a mapping of overrides).
        seed: Seed of the method's randomness.
        precision: "float32", "bfloat16" or "float16" (mixed; see :class:`Explainer`).

    Returns:
        numpy array (N, H, W), or (N, H, W, C) for ``reduce="none"``.

    Example:
        >>> import keras, numpy as np
        >>> m = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
        >>> saliency(m, np.ones((2, 8, 8, 3)), variant="eager").shape
        (2, 8, 8)
    """
    explainer = _explainer_for(model, variant, score, batch_size, device, precision)
    return explainer.explain(
        images, targets=targets, method=method, reduce=reduce, normalize=normalize, options=options, seed=seed
    ).maps
