"""What a comparison of two computations of one network measured: the :class:`Comparison`
of their gradients and logits (as computed and with the units near a kink pinned) and
each unit that flipped (:class:`Flip`). Measured by :func:`saliency_core.comparison.compare`;
:class:`saliency_core.agreement.Agreement` adds the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "Flip"]


@dataclass(frozen=True)
class Flip:
    """One kink unit that lies on different sides in the two computations.

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
        """Distance of the farther of the two deciding values from the kink, relative
        to the layer's scale: of the order of float32's rounding for a rounding flip."""
        far = max(abs(self.z_reference - self.kink), abs(self.z_variant - self.kink))
        return far / self.scale if self.scale > 0 else float("inf")


@dataclass
class Comparison:
    """Two computations' input gradients and logits on one batch, as measured.

    Relative L2 is ``||g_variant - g_reference|| / ||g_reference||`` over the raw gradients
    (all channels); ``*_per_image`` give it image by image.

    Attributes:
        variant: The second computation's variant.
        reference: What it is compared with: "eager", or "eager (NAME)" for another model.
        rel_l2, rel_l2_per_image: The gradients as computed.
        logits_rel_l2: The logits (the forward pass alone).
        logits_max_rel: Largest ``|logit difference|`` of any class, relative to the
            image's largest |reference logit|, over the images.
        targets: The classes both explain (the reference's top-1 unless given).
        top1_mismatch: Images whose top-1 class differs.
        top1_gaps: For each of those, the reference's own logit gap between its top-1
            and the variant's top-1, relative to the image's largest |reference logit|.
        kink_layers: Kink layers inspected (ReLU, max pooling); kink_units: their
            units (pooling: windows per channel) over the batch.
        flips: Units on different sides of a kink in the two forward passes.
        near_kink_shift: Over the units near a kink (those pinned), the largest
            distance the quantity that decides a unit's side moved between the two
            (:meth:`ReluKinks.shifts <saliency_core.kink_units.ReluKinks.shifts>`), relative
            to the layer's mean |z| for the image. A flipped unit's margin is at most its
            own shift.
        kink_tol: Distance from a kink (relative to the layer's mean |z|) pinned.
        pinned_units: Units that were that close to a kink, in either computation.
        pinned_rel_l2, pinned_rel_l2_per_image: The two on the network with those
            units pinned to the reference's side: rounding alone when they compute
            the same function.
        pinning_moved: How far pinning moved the reference's own gradients (relative
            L2). Each pinned unit keeps the reference's side, so this is rounding (or 0).
        activations: The model's activation functions without a kink ("gelu", "swish",
            ...). A network with no kink layers (a GELU ViT) is compared as computed:
            nothing is pinned and the pinned fields repeat the computed ones.
    """

    variant: str
    reference: str
    rel_l2: float
    rel_l2_per_image: np.ndarray
    logits_rel_l2: float
    logits_max_rel: float
    targets: np.ndarray
    top1_mismatch: int
    top1_gaps: list[float]
    kink_layers: int
    kink_units: int
    flips: list[Flip]
    near_kink_shift: float
    kink_tol: float
    pinned_units: int
    pinned_rel_l2: float
    pinned_rel_l2_per_image: np.ndarray
    pinning_moved: float
    activations: tuple[str, ...]

    @property
    def max_flip_margin(self) -> float:
        """Largest :attr:`Flip.margin` (0 when nothing flipped)."""
        return max((f.margin for f in self.flips), default=0.0)
