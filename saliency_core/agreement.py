"""Why two execution variants' maps differ: rounding, or a unit at a kink.

The three variants compute the same function, but XLA sums float32 products in
another order than eager does, so a pre-activation differs by a few ulps between
them. That is harmless almost everywhere. At a ReLU's kink it is not: the gradient
of a ReLU network is piecewise constant in its activation pattern and jumps where a
pre-activation crosses zero (and where a max-pooling window's largest element
changes). A unit within rounding of its kink can end up on one side in eager and on
the other under XLA, and the input gradient then differs by that unit's whole
contribution, far more than rounding.

:func:`variant_agreement` separates the two. It records every kink unit (of
``ReLU``, ``Activation("relu")``/``"relu6"``, ``LeakyReLU`` and ``MaxPooling2D``
layers, see :mod:`saliency_core.kinks`) that falls on different sides in the two
variants, then pins every unit near a kink to one side in both variants and
compares again. If the variants compute the same function, what is
left then is rounding alone, and every flipped unit lies within rounding of its kink.
(Reading the sides from a separate forward pass is not enough to align one variant
with the other: XLA compiles the probe and the gradient separately, and a unit within
an ulp of zero can take different sides in the two. Pinning does not depend on it.)
A network without ReLU or max-pooling layers (a GELU transformer, a swish
EfficientNet) has no kinks: it is compared as computed, and the report says so.

Measured on a 2-core CPU (ResNet50 with random weights, seed 0, five photos, batch 5):
XLA's gradients are 2.6e-3 (relative L2) from eager's. 3 of the 45 million ReLU units
land on different sides, each within 2e-6 of zero in layers whose mean |z| is 2 to 5.
With the units within 1e-4 of a kink pinned (about 3,500), the two agree to 1.3e-6.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from .devices import resolve_device
from .explainer import Explainer, XlaOnCpuWarning, pad_chunk
from .gradients import VARIANTS
from .kinks import (
    KinkAnalysisError,
    kink_inputs_fn,
    kink_layers,
    pinned_copy,
    smooth_activations,
    split_fused_relus,
)
from .models.classifier import Classifier, as_classifier

__all__ = ["Agreement", "Flip", "KinkAnalysisError", "variant_agreement"]


@dataclass(frozen=True)
class Flip:
    """One kink unit that lies on different sides in the two variants.

    Attributes:
        layer: Name of the kink layer.
        image: Index of the image in the batch.
        unit: Index of the unit within the layer's output for that image.
        z_reference, z_variant: What decides the side, in the reference (eager) and in
            the variant: a ReLU's pre-activation; for max pooling, the reference's
            largest element of the window minus the variant's.
        kink: The kink the unit straddles (0, or a ReLU's threshold or max value).
        scale: Mean |input| of that layer for that image.
    """

    layer: str
    image: int
    unit: tuple[int, ...]
    z_reference: float
    z_variant: float
    kink: float
    scale: float

    @property
    def margin(self) -> float:
        """Distance of the farther of the two pre-activations from the kink, relative
        to the layer's scale: about 1e-7 (a float32 ulp) for a rounding flip."""
        far = max(abs(self.z_reference - self.kink), abs(self.z_variant - self.kink))
        return far / self.scale if self.scale > 0 else float("inf")


@dataclass
class Agreement:
    """How one variant's input gradients compare with eager's (the reference) on a batch.

    Relative L2 is ``||g_variant - g_reference|| / ||g_reference||`` over the raw gradients
    (all channels); ``*_per_image`` give it image by image.

    Attributes:
        variant: The variant compared with eager.
        reference: What it is compared with: "eager", or "eager (NAME)" for another model.
        rel_l2, rel_l2_per_image: The gradients as computed.
        logits_rel_l2: The logits (the forward pass alone).
        top1_mismatch: Images whose top-1 class differs (both maps explain the reference's).
        kink_layers: Kink layers inspected (ReLU, max pooling); kink_units: their
            units (pooling: windows per channel) over the batch.
        flips: Units on different sides of a kink in the two forward passes.
        kink_tol: Distance from a kink (relative to the layer's mean |z|) pinned.
        pinned_units: Units that were that close to a kink, in either variant.
        pinned_rel_l2, pinned_rel_l2_per_image: The two variants on the network
            with those units pinned below their kink: rounding alone when the
            variants compute the same function.
        pinning_moved: How far pinning moved the reference's own gradients (relative L2).
        activations: The model's activation functions without a kink ("gelu", "swish",
            ...). A network with no kink layers (a GELU ViT) is compared as computed:
            nothing is pinned and the pinned fields repeat the computed ones.
    """

    variant: str
    reference: str
    rel_l2: float
    rel_l2_per_image: np.ndarray
    logits_rel_l2: float
    top1_mismatch: int
    kink_layers: int
    kink_units: int
    flips: list[Flip]
    kink_tol: float
    pinned_units: int
    pinned_rel_l2: float
    pinned_rel_l2_per_image: np.ndarray
    pinning_moved: float
    activations: tuple[str, ...] = ()

    @property
    def max_flip_margin(self) -> float:
        """Largest :attr:`Flip.margin` (0 when nothing flipped)."""
        return max((f.margin for f in self.flips), default=0.0)

    def describe(self) -> str:
        head = (
            f"{self.variant} vs {self.reference}: gradients {self.rel_l2:.2e} relative L2, "
            f"logits {self.logits_rel_l2:.2e}"
        )
        if not self.kink_layers:
            smooth = f" ({', '.join(self.activations)})" if self.activations else ""
            return "\n".join(
                [head, f"no ReLU or max-pool kinks{smooth}: compared as computed"] + self._top1_line()
            )
        lines = [
            head,
            f"units on different sides of a kink: {len(self.flips)} of {self.kink_units:,} "
            f"in {self.kink_layers} ReLU and max-pooling layers"
            + (
                f", each within {self.max_flip_margin:.1e} of its layer's mean |z| from the kink"
                if self.flips
                else ""
            ),
        ]
        lines += [
            f"  {f.layer} image {f.image} unit {f.unit}: reference z={f.z_reference:+.3e}, "
            f"{self.variant} z={f.z_variant:+.3e} (layer mean |z| {f.scale:.3g})"
            for f in self.flips[:10]
        ]
        if len(self.flips) > 10:
            lines.append(f"  ... {len(self.flips) - 10} more")
        lines.append(
            f"with the {self.pinned_units:,} units within {self.kink_tol:g} of a kink pinned: "
            f"gradients {self.pinned_rel_l2:.2e} relative L2 "
            f"(pinning moved the reference's by {self.pinning_moved:.2e})"
        )
        return "\n".join(lines + self._top1_line())

    def _top1_line(self) -> list[str]:
        if not self.top1_mismatch:
            return []
        return [f"top-1 class differs on {self.top1_mismatch} image(s); both maps explain the reference's"]


# -- the comparison ----------------------------------------------------------------
class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning. A comparison builds
    several functions (the variant, its probe, the pinned copy), each traced once, and
    TensorFlow's detector counts them together."""

    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _rel(a, b) -> float:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / nb if nb > 0 else float(np.linalg.norm(a - b))


class _Side:
    """One of the two computations: a classifier run as a variant on its images."""

    def __init__(self, clf, split, images, variant, layers, score, batch_size, device, pinned=None):
        self.clf, self.variant, self.layers = clf, variant, layers
        self.explainer = Explainer(clf, variant=variant, score=score, batch_size=batch_size, device=device)
        self.images = self.explainer._check_images(images)
        if not layers:  # no kinks: nothing to probe or pin
            return
        normalize = clf.preprocessing.normalize if clf.raw_input else None
        self.probe = kink_inputs_fn(split, layers, variant, normalize=normalize)
        if pinned is None:
            copy, holders = pinned_copy(split, layers)
            pinned = (
                Classifier(
                    f"{clf.name}-pinned",
                    copy,
                    clf.preprocessing,
                    clf.class_names,
                    clf.weights,
                    clf.logits_source,
                    clf.raw_input,
                ),
                holders,
            )
        self.pinned_clf, self.holders = pinned
        with warnings.catch_warnings():  # said once already, for the network itself
            warnings.simplefilter("ignore", XlaOnCpuWarning)
            self.pinned = Explainer(
                self.pinned_clf,
                variant=variant,
                score=score,
                batch_size=min(batch_size, len(self.images)),
                device=device,
            )

    def chunk(self, start, m, size):
        """Images ``start:start+m`` padded to ``size`` as :class:`Explainer` pads them."""
        return pad_chunk(self.images[start : start + m], size)


def variant_agreement(
    model,
    images,
    variant: str = "xla",
    *,
    reference=None,
    reference_images=None,
    targets=None,
    batch_size: int = 16,
    score: str = "logit",
    kink_tol: float = 1e-4,
    device: str | None = None,
) -> Agreement:
    """Compare ``variant``'s input gradients with eager's and explain the difference.

    Three passes: both computations' gradients as they are; both forward passes
    again to read every kink layer's input (the flips); both gradients once more on a
    copy of the network in which every unit within ``kink_tol`` of its kink (relative
    to its layer's mean |input| for that image, in either computation) is pinned to
    one side. The pinned network is one piecewise-linear function with no unit that
    rounding can move across a kink, so two computations of the same function agree
    on it to rounding.

    Args:
        model: A :class:`Classifier` or a functional Keras model. Its kinks are read
            from ``ReLU``, ``Activation``, ``LeakyReLU`` and ``MaxPooling2D`` layers, and
            from ReLUs inside other layers (``Conv2D(activation="relu")``), which a copy
            splits out (:func:`~saliency_core.kinks.split_fused_relus`).
        images: (N, H, W, C) in the classifier's input space.
        variant: How ``model`` runs: "function" or "xla" (or "eager" when a
            ``reference`` or ``reference_images`` is given).
        reference: The model eager runs, when not ``model`` itself: for example the
            same network built in float64, with the same kink layers.
        reference_images: The images eager runs on, when not ``images`` (cast to the
            reference's dtype).
        targets: Class ids, or None for the reference's top-1 (both explain the same class).
        batch_size: Images per call, as in :class:`Explainer`; every pass uses the same chunks.
        score: "logit" or "probability".
        kink_tol: Distance from a kink, relative to the layer's mean |input|,
            within which a unit is pinned. A float32 ulp is 1.2e-7 relative.
        device: "cpu", "gpu", "gpu:N" or None (TensorFlow's placement), for every pass
            of both computations.

    Raises:
        KinkAnalysisError: kinks sit in nested models or in other pooling layers, or the
            reference's kink layers differ.
    """
    quiet = _NoRetracingWarning()
    tf_logger = logging.getLogger("tensorflow")
    tf_logger.addFilter(quiet)
    try:
        return _compare(
            model, images, variant, reference, reference_images, targets, batch_size, score, kink_tol, device
        )
    finally:
        tf_logger.removeFilter(quiet)


def _compare(
    model, images, variant, reference, reference_images, targets, batch_size, score, kink_tol, device
) -> Agreement:
    import tensorflow as tf

    placement = resolve_device(device)  # the probes'; each Explainer places its own calls
    same_model = reference is None
    if variant not in VARIANTS or (variant == "eager" and same_model and reference_images is None):
        raise ValueError(f"variant must be 'function' or 'xla' (compared with eager), got {variant!r}")
    if not kink_tol > 0:
        raise ValueError(f"kink_tol must be > 0, got {kink_tol}")
    clf = as_classifier(model)
    ref_clf = clf if same_model else as_classifier(reference)
    split = split_fused_relus(clf.model)
    ref_split = split if same_model else split_fused_relus(ref_clf.model)
    layers = kink_layers(split)
    ref_layers = layers if same_model else kink_layers(ref_split)
    if [k for _, k in ref_layers] != [k for _, k in layers]:  # dataclass equality: kind and pieces
        raise KinkAnalysisError(
            f"reference {ref_clf.name!r} and model {clf.name!r} have different "
            "kink layers; compare two builds of one network"
        )
    ref = _Side(
        ref_clf,
        ref_split,
        images if reference_images is None else reference_images,
        "eager",
        ref_layers,
        score,
        batch_size,
        device,
    )
    other = _Side(
        clf,
        split,
        images,
        variant,
        layers,
        score,
        batch_size,
        device,
        pinned=(ref.pinned_clf, ref.holders) if same_model and layers else None,
    )
    n = len(other.images)
    if len(ref.images) != n:
        raise ValueError(f"reference_images has {len(ref.images)} images; images has {n}")
    chunk = min(batch_size, n)
    g_ref, logits_ref, chosen = ref.explainer.gradients(ref.images, targets)
    g_other, logits_other, _ = other.explainer.gradients(other.images, chosen)

    if layers:
        pinned = {side: np.empty_like(g) for side, g in (("ref", g_ref), ("other", g_other))}
    else:  # a smooth network (GELU, swish): nothing to pin, compared as computed
        pinned = {"ref": g_ref, "other": g_other}
    flips, units, pinned_units = [], 0, 0
    for start in range(0, n, chunk) if layers else ():
        m = min(chunk, n - start)
        xr, xo = ref.chunk(start, m, chunk), other.chunk(start, m, chunk)
        t = pad_chunk(chosen[start : start + m], chunk)
        with tf.device(placement) if placement else contextlib.nullcontext():
            zs_ref = [z.numpy() for z in ref.probe(tf.constant(xr))]
            zs_other = [z.numpy() for z in other.probe(tf.constant(xo))]
        for (layer, kinks), (other_layer, _), za, zb in zip(ref_layers, layers, zs_ref, zs_other):
            units += kinks.units(za[:m])
            scale = np.mean(np.abs(za), axis=tuple(range(1, za.ndim)), keepdims=True)
            pattern = kinks.pin(za, zb, kink_tol * scale)
            pattern[m:] = -1
            pinned_units += int(np.sum(pattern >= 0))
            ref.holders[layer.name].assign(pattern)
            if not same_model:
                other.holders[other_layer.name].assign(pattern)
            for idx, da, db, kink in kinks.flips(za[:m], zb[:m]):
                flips.append(
                    Flip(
                        layer.name,
                        start + int(idx[0]),
                        tuple(int(i) for i in idx[1:]),
                        da,
                        db,
                        kink,
                        float(scale[idx[0]].item()),
                    )
                )
        pinned["ref"][start : start + m] = ref.pinned.gradients(xr, t)[0][:m]
        pinned["other"][start : start + m] = other.pinned.gradients(xo, t)[0][:m]

    per_image = lambda a, b: np.array([_rel(a[i], b[i]) for i in range(n)])  # noqa: E731
    label = "eager" if same_model else f"eager ({ref_clf.name})"
    return Agreement(
        variant=variant,
        reference=label,
        rel_l2=_rel(g_other, g_ref),
        rel_l2_per_image=per_image(g_other, g_ref),
        logits_rel_l2=_rel(logits_other, logits_ref),
        top1_mismatch=int(np.sum(np.argmax(logits_other, -1) != np.argmax(logits_ref, -1))),
        kink_layers=len(layers),
        kink_units=units,
        flips=flips,
        kink_tol=kink_tol,
        pinned_units=pinned_units,
        pinned_rel_l2=_rel(pinned["other"], pinned["ref"]),
        pinned_rel_l2_per_image=per_image(pinned["other"], pinned["ref"]),
        pinning_moved=_rel(pinned["ref"], g_ref),
        activations=smooth_activations(split),
    )
