"""How far low-precision saliency maps are from float32 maps of the same images.

Four measures per image, comparing a low-precision map ``m`` with the float32 map
``r`` of the same image (maps reduced over channels, (H, W)):

* ``spearman_abs``: Spearman rank correlation of ``|r|`` and ``|m|``
  (:func:`saliency_core.checks.similarity.spearman_abs`, with its conventions for
  constant maps); 1 = the same pixel ranking.
* ``rel_l2``: ``||m - r|| / ||r||`` (0 when both are zero, infinite when only ``r``
  is); 0 = the same values.
* ``top_overlap``: the fraction of ``r``'s top ``top_fraction`` pixels by ``|r|``
  (``k = ceil(top_fraction * H * W)`` pixels, ties broken by the lower flat index)
  that are also among ``m``'s top ``k`` by ``|m|``; 1 = the same most salient pixels.
* ``top1``: whether the two forward passes give the same top-1 class (from the
  logits), 1 or 0 per image; its mean is the top-1 agreement.

:func:`map_fidelity` is pure numpy. :func:`precision_fidelity` computes both sets of
maps with the gradient contract: the float32 reference with the ``function``
variant (the same kernels as eager; the variants agree to about 1e-3 relative L2,
``bench/results/precision``, far below what a low precision moves), the
low-precision maps with the variant under test.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .reduce import Reduction

__all__ = [
    "Fidelity",
    "map_fidelity",
    "precision_fidelity",
    "TOP_FRACTION",
    "REFERENCE_VARIANT",
    "top_overlap",
    "relative_l2",
]

TOP_FRACTION = 0.1
REFERENCE_VARIANT = "function"


@dataclass(frozen=True)
class Fidelity:
    """Per-image measures (lists, in image order) and their summaries.

    Attributes:
        spearman_abs, rel_l2, top_overlap, top1: Per-image values (see the module).
        top_fraction: The fraction of pixels ``top_overlap`` compares.
        reference: How the float32 reference was computed (precision, variant).
    """

    spearman_abs: list[float]
    rel_l2: list[float]
    top_overlap: list[float]
    top1: list[int]
    top_fraction: float = TOP_FRACTION
    reference: dict | None = None

    @property
    def summary(self) -> dict:
        """Means, and the worst image of each measure."""
        return {
            "spearman_abs": float(np.mean(self.spearman_abs)),
            "spearman_abs_min": float(np.min(self.spearman_abs)),
            "rel_l2": float(np.mean(self.rel_l2)),
            "rel_l2_max": float(np.max(self.rel_l2)),
            "top_overlap": float(np.mean(self.top_overlap)),
            "top_overlap_min": float(np.min(self.top_overlap)),
            "top1_agreement": float(np.mean(self.top1)),
            "images": len(self.top1),
        }

    def to_dict(self) -> dict:
        """The summary, the settings and the per-image values (``per_image``), for a cell."""
        per_image = {
            k: v for k, v in asdict(self).items() if k in ("spearman_abs", "rel_l2", "top_overlap", "top1")
        }
        return {
            **self.summary,
            "top_fraction": self.top_fraction,
            "reference": self.reference,
            "per_image": per_image,
        }


def _flat(maps) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"maps must be (N, H, W) or (H, W), got shape {maps.shape}")
    return maps.reshape(len(maps), -1)


def relative_l2(reference, maps) -> np.ndarray:
    """``||maps - reference|| / ||reference||`` per map (0 if both are zero, inf if only
    the reference is)."""
    r, m = _flat(reference), _flat(maps)
    num = np.linalg.norm(m - r, axis=1)
    den = np.linalg.norm(r, axis=1)
    out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, 0.0))
    return out.astype(np.float64)


def top_overlap(reference, maps, fraction: float = TOP_FRACTION) -> np.ndarray:
    """Fraction of the reference's top ``ceil(fraction * pixels)`` pixels by magnitude
    that are also among the other map's top as many, per map."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    r, m = np.abs(_flat(reference)), np.abs(_flat(maps))
    k = max(1, math.ceil(fraction * r.shape[1]))
    top_r = np.argsort(-r, axis=1, kind="stable")[:, :k]
    top_m = np.argsort(-m, axis=1, kind="stable")[:, :k]
    return np.array([len(np.intersect1d(a, b)) / k for a, b in zip(top_r, top_m)])


def map_fidelity(
    reference,
    maps,
    reference_logits,
    logits,
    *,
    top_fraction: float = TOP_FRACTION,
    reference_info: dict | None = None,
) -> Fidelity:
    """The four measures of ``maps`` against ``reference`` (both (N, H, W)), with the
    top-1 classes from ``reference_logits`` and ``logits`` (both (N, K))."""
    from .checks.similarity import spearman_abs

    r, m = np.asarray(reference, dtype=np.float64), np.asarray(maps, dtype=np.float64)
    if r.shape != m.shape:
        raise ValueError(f"maps {m.shape} and reference {r.shape} differ in shape")
    lr, lm = np.asarray(reference_logits), np.asarray(logits)
    if lr.shape != lm.shape or lr.ndim != 2 or len(lr) != len(_flat(r)):
        raise ValueError(f"logits must be (N, K) for the N maps; got {lm.shape} and {lr.shape}")
    top1 = (np.argmax(lr, axis=1) == np.argmax(lm, axis=1)).astype(int)
    return Fidelity(
        spearman_abs=spearman_abs(r, m).tolist(),
        rel_l2=relative_l2(r, m).tolist(),
        top_overlap=top_overlap(r, m, top_fraction).tolist(),
        top1=top1.tolist(),
        top_fraction=float(top_fraction),
        reference=reference_info,
    )


def precision_fidelity(
    classifier,
    images,
    *,
    precision: str,
    variant: str,
    score: str = "logit",
    reduce: Reduction = "max_abs",
    batch_size: int = 8,
    device: str | None = None,
    gradient_fn=None,
    top_fraction: float = TOP_FRACTION,
) -> Fidelity:
    """Maps of ``images`` at ``precision`` (``variant``) against float32 maps of the same
    images (:data:`REFERENCE_VARIANT`), explaining each image's float32 top-1 class in
    both, so a changed top-1 does not change what is compared.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`.
        images: (N, H, W, C) in the classifier's input space.
        precision, variant, score: The low-precision computation under test.
        reduce: Channel reduction of both sets of gradients.
        batch_size: Images per call.
        device: "cpu", "gpu", "gpu:N" or None.
        gradient_fn: The already built low-precision gradient function to reuse.
        top_fraction: See :func:`top_overlap`.
    """
    import warnings

    from .explainer import Explainer, XlaOnCpuWarning
    from .reduce import reduce_channels

    reference = Explainer(
        classifier, variant=REFERENCE_VARIANT, score=score, batch_size=batch_size, device=device
    )
    ref_grads, ref_logits, targets = reference.gradients(images)
    with warnings.catch_warnings():  # the caller chose the variant; it is measured here
        warnings.simplefilter("ignore", XlaOnCpuWarning)
        low = Explainer(
            classifier,
            variant=variant,
            score=score,
            batch_size=batch_size,
            device=device,
            precision=precision,
        )
    if gradient_fn is not None:
        low.fn = gradient_fn
    grads, logits, _ = low.gradients(images, targets)
    return map_fidelity(
        reduce_channels(ref_grads, reduce),
        reduce_channels(grads, reduce),
        ref_logits,
        logits,
        top_fraction=top_fraction,
        reference_info={
            "precision": "float32",
            "variant": REFERENCE_VARIANT,
            "score": score,
            "reduce": reduce,
            "targets": "float32 top-1",
        },
    )
