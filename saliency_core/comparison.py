"""Two computations of one network, compared as computed and with the units near a kink pinned.

The measuring half of :mod:`saliency_core.agreement`: :func:`compare` runs a
reference (eager) and a second computation (a compiled variant, or the same network
in another dtype or on moved inputs) over the same chunks and returns the raw
numbers in a :class:`~saliency_core.comparison_result.Comparison`. Whether those
numbers mean "the same function" is decided elsewhere, against a measured noise floor
(:mod:`saliency_core.noise_floor`, :mod:`saliency_core.agreement`).

Three passes: both gradients as they are; both forward passes again to read every
kink layer's input (the flips, and how far the second computation moved each unit);
both gradients once more on a copy of the network in which every unit within
``kink_tol`` of its kink (relative to its layer's mean |input| for that image, in
either computation) follows the reference's side (:func:`~saliency_core.kinks.pinned_copy`).
"""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np

from .comparison_result import Comparison, Flip
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

__all__ = ["compare", "rel_l2"]


class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning. A comparison builds
    several functions (the variant, its probe, the pinned copy), each traced once, and
    TensorFlow's detector counts them together."""

    def filter(self, record) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def rel_l2(a, b) -> float:
    """``||a - b|| / ||b||`` (``||a - b||`` when ``b`` is 0)."""
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


def compare(
    model,
    images,
    variant: str,
    *,
    reference=None,
    reference_images=None,
    targets=None,
    batch_size: int = 16,
    score: str = "logit",
    kink_tol: float = 1e-4,
    device: str | None = None,
) -> Comparison:
    """Run eager (on ``reference`` or ``model``) and ``variant`` (on ``model``) and compare.

    Arguments as in :func:`saliency_core.agreement.variant_agreement`; ``variant`` may be
    "eager" only when ``reference`` or ``reference_images`` is given.
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
) -> Comparison:
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
    flips, units, pinned_units, z_shift = [], 0, 0, 0.0
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
            shift = kinks.shifts(za[:m], zb[:m], pattern[:m])
            shift = shift / np.reshape(
                np.where(scale[:m] > 0, scale[:m], np.inf), (m,) + (1,) * (shift.ndim - 1)
            )
            z_shift = max(z_shift, float(np.max(shift, initial=0.0)))
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

    per_image = lambda a, b: np.array([rel_l2(a[i], b[i]) for i in range(n)])  # noqa: E731
    top_ref, top_other = np.argmax(logits_ref, -1), np.argmax(logits_other, -1)
    peak = np.max(np.abs(logits_ref), axis=-1)
    peak = np.where(peak > 0, peak, 1.0)
    gaps = [
        float((logits_ref[i, top_ref[i]] - logits_ref[i, top_other[i]]) / peak[i])
        for i in np.flatnonzero(top_ref != top_other)
    ]
    diff = np.abs(logits_other.astype(np.float64) - logits_ref)
    return Comparison(
        variant=variant,
        reference="eager" if same_model else f"eager ({ref_clf.name})",
        rel_l2=rel_l2(g_other, g_ref),
        rel_l2_per_image=per_image(g_other, g_ref),
        logits_rel_l2=rel_l2(logits_other, logits_ref),
        logits_max_rel=float(np.max(np.max(diff, axis=-1) / peak)),
        targets=chosen,
        top1_mismatch=len(gaps),
        top1_gaps=gaps,
        kink_layers=len(layers),
        kink_units=units,
        flips=flips,
        near_kink_shift=z_shift,
        kink_tol=kink_tol,
        pinned_units=pinned_units,
        pinned_rel_l2=rel_l2(pinned["other"], pinned["ref"]),
        pinned_rel_l2_per_image=per_image(pinned["other"], pinned["ref"]),
        pinning_moved=rel_l2(pinned["ref"], g_ref),
        activations=smooth_activations(split),
    )
