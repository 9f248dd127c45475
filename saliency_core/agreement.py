"""Do two execution variants compute the same function? Judged against a measured noise floor.

The three variants compute the same function, but XLA sums float32 products in
another order than eager does, so a pre-activation differs by a few ulps between
them. That is harmless almost everywhere. At a ReLU's kink it is not: the gradient
of a ReLU network is piecewise constant in its activation pattern and jumps where a
pre-activation crosses zero (and where a max-pooling window's largest element
changes). A unit within rounding of its kink can end up on one side in eager and on
the other under XLA, and the input gradient then differs by that unit's whole
contribution, far more than rounding.

:func:`variant_agreement` separates the two (:func:`saliency_core.comparison.compare`).
It records every kink unit (of ``ReLU``, ``Activation("relu")``/``"relu6"``,
``LeakyReLU`` and ``MaxPooling2D`` layers, see :mod:`saliency_core.kinks`) that falls on
different sides in the two variants, then pins every unit near a kink to eager's
side in both variants and compares again. (Reading the sides from a separate forward
pass is not enough to align one variant with the other: XLA compiles the probe and
the gradient separately, and a unit within an ulp of zero can take different sides
in the two. Pinning does not depend on it.) A network without ReLU or max-pooling
layers (a GELU transformer, a swish EfficientNet) has no kinks: it is compared as
computed, and the report says so.

How large may the differences be? As large as float32's own rounding on this
network, these images and this machine, measured in the same process
(:func:`~saliency_core.noise_floor.measure_noise_floor`: eager float32 against eager
float64 of the same weights, with every unit near a kink pinned in the same way).
With ``F`` that floor, ``k`` = :data:`FLOOR_FACTOR` and ``u`` the machine epsilon of
the model's dtype, the variant agrees with eager when

* logits: relative L2 <= ``k * F.logits`` + ``u``;
* top-1: an image's top-1 class differs only where eager's logits for the two
  classes are within ``k * F.logits_max`` + ``u`` of each other;
* flips: every flipped unit lies within ``k * F.near_kink_shift`` + ``u`` (relative to
  its layer's mean |z|) of its kink, where ``F.near_kink_shift`` is the farthest
  rounding moved any unit that lies near a kink (a ReLU's pre-activation; a pooling
  window's lead of its largest element over the runner-up);
* pinned gradients: relative L2 <= ``k * F.pinned`` + ``u``; and pinning moved eager's
  own gradients by no more than that (each pinned unit keeps eager's side, so the
  pinned copy computes the network: anything more is a fault of the analysis).

Why this is sound. Let ``e``, ``v`` and ``f`` be eager, the variant and float64 (the
exact value, to float32's resolution). The floor is ``|e - f|``. If the variant is at
most ``c`` times less accurate than eager, ``|v - f| <= c |e - f|``, then by the
triangle inequality ``|v - e| <= (1 + c) |e - f|``: ``k = 4`` allows a variant three
times less accurate than eager (measured: XLA's pinned gradients are 1.3 times as far
from float64 as eager's on ResNet50, 7.7e-7 against 6.0e-7). A
variant that fails computes something further from the exact function than rounding
explains. For a flip, the two deciding values straddle the kink, so each lies within
``|z_e - z_v|`` of it, and ``|z_e - z_v| <= |z_e - z_f| + |z_v - z_f|``: at most ``k``
times the largest shift rounding gives a unit near a kink (the flipped unit is one of
them, eager's value being the same in both runs). Units far from a kink are left out
of that floor: their shifts scale with their own size, not with the noise at zero. ``u`` keeps
a floor of exactly 0 (a network that float32 computes exactly) from demanding
bit-identical results. Because pinning keeps eager's side rather than a fixed one, a
real change in a near-kink unit's slope still shows in the pinned gradients;
``tests/core/test_agreement.py`` plants one near a kink and one far from any.

The gradients as computed are recorded but not judged: a flip changes them by a
unit's whole contribution, a discrete event that no rounding-sized floor bounds.

Measured on a 2-core AMD EPYC CPU (TensorFlow 2.21; ResNet50 with random weights,
seed 0, five photos, batch 5): XLA's gradients are 8.1e-4 (relative L2) from eager's
as computed (2.6e-3 in ``bench/results/precision/``, another run: the number depends
on the machine). 2 of the 46.4 million kink units (45.4 million ReLU units, 1.0 million
max-pooling windows) land on different sides, each within 1.7e-6 of its layer's mean
|z| from the kink. With the units within 1e-4 of a kink pinned (360,278 of them: 3,459
ReLU units and 356,819 max-pooling windows, 352,498 of which have the ReLU's zeros as
their two largest values), the two agree to 9.2e-7; float32's own floor on the same
photos is 6.0e-7 (pinned), so the bound is 2.5e-6.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .comparison import compare
from .comparison_result import Comparison, Flip
from .kinks import KinkAnalysisError
from .noise_floor import NoiseFloor, NoiseFloorError, measure_noise_floor

__all__ = [
    "FLOOR_FACTOR",
    "Agreement",
    "Check",
    "Flip",
    "KinkAnalysisError",
    "NoiseFloor",
    "NoiseFloorError",
    "measure_noise_floor",
    "variant_agreement",
]

#: How many times float32's measured rounding a difference between the variants may be.
FLOOR_FACTOR = 4.0


@dataclass(frozen=True)
class Check:
    """One part of the criterion: a measured ``value`` against its ``bound``."""

    name: str
    value: float
    bound: float
    what: str

    @property
    def ok(self) -> bool:
        return self.value <= self.bound

    def describe(self) -> str:
        return f"{self.name}: {self.what} {self.value:.2e} {'<=' if self.ok else '>'} {self.bound:.2e}"


@dataclass
class Agreement(Comparison):
    """How one variant's input gradients compare with eager's (the reference) on a batch,
    judged against float32's noise floor measured on the same batch.

    Attributes (besides :class:`~saliency_core.comparison_result.Comparison`'s):
        noise_floor: Float32's rounding on these images (its numbers, and how measured).
        factor: ``k`` of the criterion (:data:`FLOOR_FACTOR`).
    """

    noise_floor: NoiseFloor
    factor: float = FLOOR_FACTOR

    @property
    def checks(self) -> list[Check]:
        """The criterion, part by part (see the module's docstring)."""
        floor, k = self.noise_floor, self.factor
        u = floor.eps
        gradients = k * floor.pinned_rel_l2 + u
        common = [
            Check("logits", self.logits_rel_l2, k * floor.logits_rel_l2 + u, "relative L2"),
            Check(
                "top-1",
                max(self.top1_gaps, default=0.0),
                k * floor.logits_max_rel + u,
                f"{self.top1_mismatch} image(s) with another top-1 class; eager's logit gap",
            ),
        ]
        if not self.kink_layers:  # nothing pinned: the gradients as computed
            return [*common, Check("gradients", self.rel_l2, gradients, "relative L2")]
        return [
            *common,
            Check(
                "flips",
                self.max_flip_margin,
                k * floor.near_kink_shift + u,
                f"{len(self.flips)} unit(s) on other sides of a kink, farthest",
            ),
            Check("pinned gradients", self.pinned_rel_l2, gradients, "relative L2"),
            Check("pinning", self.pinning_moved, gradients, "pinning moved eager's own gradients by"),
        ]

    @property
    def reasons(self) -> list[str]:
        """Why the variant does not agree (empty when it does)."""
        return [c.describe() for c in self.checks if not c.ok]

    @property
    def agrees(self) -> bool:
        """The variant computes the same function as eager, to float32's measured rounding."""
        return not self.reasons

    def describe(self) -> str:
        head = (
            f"{self.variant} vs {self.reference}: gradients {self.rel_l2:.2e} relative L2, "
            f"logits {self.logits_rel_l2:.2e}"
        )
        if not self.kink_layers:
            smooth = f" ({', '.join(self.activations)})" if self.activations else ""
            return "\n".join(
                [head, f"no ReLU or max-pool kinks{smooth}: compared as computed"] + self._verdict_lines()
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
        return "\n".join(lines + self._verdict_lines())

    def _verdict_lines(self) -> list[str]:
        lines = []
        if self.top1_mismatch:
            lines.append(
                f"top-1 class differs on {self.top1_mismatch} image(s); both maps explain the reference's"
            )
        lines.append(self.noise_floor.describe(kinks=bool(self.kink_layers)))
        return lines + [("  ok    " if c.ok else "  FAIL  ") + c.describe() for c in self.checks]


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
    noise_floor: NoiseFloor | None = None,
    factor: float = FLOOR_FACTOR,
) -> Agreement:
    """Compare ``variant``'s input gradients with eager's, explain the difference, and
    judge it against float32's noise floor.

    Three passes (:func:`saliency_core.comparison.compare`): both computations'
    gradients as they are; both forward passes again to read every kink layer's input
    (the flips); both gradients once more on a copy of the network in which every unit
    within ``kink_tol`` of its kink (relative to its layer's mean |input| for that
    image, in either computation) is pinned to eager's side. The pinned network is one
    piecewise-linear function with no unit that rounding can move across a kink, so
    two computations of the same function agree on it to rounding. Then, unless
    given, the same passes for eager float32 against float64 measure that rounding
    (:func:`~saliency_core.noise_floor.measure_noise_floor`); :attr:`Agreement.agrees`
    applies the criterion.

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
        noise_floor: Float32's rounding on ``model`` and ``images``, measured once with
            :func:`~saliency_core.noise_floor.measure_noise_floor` and reused for several
            variants; it must have been measured with the same number of images, batch
            size, device, score and ``kink_tol`` (ValueError otherwise). None measures it
            here, on ``model``, ``images`` and the targets eager chose.
        factor: ``k`` of the criterion; at least 2 (a variant exactly as accurate as
            eager may differ from it by twice eager's rounding).

    Raises:
        KinkAnalysisError: kinks sit in nested models or in other pooling layers, or the
            reference's kink layers differ.
        NoiseFloorError: the floor is to be measured and the network cannot be rebuilt
            in float64.
    """
    if not factor >= 2:
        raise ValueError(f"factor must be >= 2, got {factor}")
    c = compare(
        model,
        images,
        variant,
        reference=reference,
        reference_images=reference_images,
        targets=targets,
        batch_size=batch_size,
        score=score,
        kink_tol=kink_tol,
        device=device,
    )
    if noise_floor is not None:
        noise_floor.check_matches(
            images=len(c.rel_l2_per_image),
            batch_size=batch_size,
            device=device,
            score=score,
            kink_tol=kink_tol,
        )
    else:
        noise_floor = measure_noise_floor(
            model,
            images,
            targets=c.targets,
            batch_size=batch_size,
            score=score,
            kink_tol=kink_tol,
            device=device,
        )
    return Agreement(
        **{f.name: getattr(c, f.name) for f in fields(Comparison)}, noise_floor=noise_floor, factor=factor
    )
