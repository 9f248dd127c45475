"""How far float32 rounding alone moves a network's logits, kinks and gradients.

Whether two float32 computations "compute the same function" cannot be decided
with a fixed tolerance: how much rounding moves a result depends on the network,
the inputs, the CPU's kernels (oneDNN, AVX-512, AMX) and the GPU's (TF32). So it is
measured, in the same process, on the same device and the same images, by
:func:`measure_noise_floor`: eager float32 against eager float64 of the same
weights (:func:`float64_copy`), with the same float32 input values. Float64 rounds
about 5e8 times more finely, so the float64 computation stands for the exact
value and the difference is float32's own rounding error on this computation.
:mod:`saliency_core.agreement` compares a variant's difference from eager with it.

Why not eager against itself on inputs moved by one float32 ulp? On a network
with every unit near a kink pinned, the input gradient is a product of weights and
the pinned pattern and does not depend on the input at all: the two pinned
gradients are identical (measured 0 on ResNet50 and Lite0,
``bench/results/precision/README.md``), so that run says nothing about rounding in
the backward pass. And the kink inputs it moves, it moves by the network's
sensitivity to the input, not by the arithmetic's rounding.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from .comparison import compare
from .models.classifier import Classifier, as_classifier

__all__ = ["NoiseFloor", "NoiseFloorError", "float64_copy", "measure_noise_floor"]

#: How the floor is measured (recorded with it).
METHOD = "eager float32 vs eager float64 (same weights, same inputs)"


class NoiseFloorError(ValueError):
    """The network cannot be rebuilt in float64 (a layer has no config to rebuild it from)."""


@dataclass(frozen=True)
class NoiseFloor:
    """Float32 rounding on one batch: eager float32 against eager float64.

    Attributes:
        method: How it was measured (:data:`METHOD`).
        dtype: The dtype whose rounding it measures (the model's).
        images, batch_size, device, score, kink_tol: What it was measured on and how:
            a floor judges only a comparison made the same way (:meth:`check_matches`).
        logits_rel_l2: Relative L2 of the logits.
        logits_max_rel: Largest |logit difference|, relative to the image's largest |logit|.
        rel_l2: The input gradients as computed (includes units that rounding put on
            the other side of a kink: a jump, not a rounding-sized difference).
        pinned_rel_l2: The input gradients with every unit near a kink pinned: the
            backward pass's rounding.
        near_kink_shift: Over the units near a kink (within ``kink_tol``), the farthest
            rounding moved the value that decides a unit's side (a ReLU's pre-activation,
            a pooling window's lead of its largest element), relative to the layer's
            mean |z| for the image; 0 when no unit lies near a kink.
        flips: Kink units that rounding put on the other side; max_flip_margin: the
            largest of their margins (0 without flips).
        pinning_moved: How far pinning moved float64's own gradients (rounding, or 0).
        seconds: Wall-clock time of the measurement, including building the copy.
    """

    method: str
    dtype: str
    images: int
    batch_size: int
    device: str | None
    score: str
    kink_tol: float
    logits_rel_l2: float
    logits_max_rel: float
    rel_l2: float
    pinned_rel_l2: float
    near_kink_shift: float
    flips: int
    max_flip_margin: float
    pinning_moved: float
    seconds: float

    @property
    def eps(self) -> float:
        """The dtype's machine epsilon (2^-23 for float32)."""
        return float(np.finfo(self.dtype).eps)

    def check_matches(
        self, *, images: int, batch_size: int, device: str | None, score: str, kink_tol: float
    ) -> None:
        """Raise ValueError unless this floor was measured the way a comparison is made.

        Another batch size runs eager through other kernels (other blocking, another
        rounding), so the floor of one batch size says nothing certain about another.
        """
        from .devices import resolve_device

        want = dict(
            images=images,
            batch_size=min(batch_size, images),
            device=resolve_device(device),
            score=score,
            kink_tol=kink_tol,
        )
        have = dict(
            images=self.images,
            batch_size=self.batch_size,
            device=resolve_device(self.device),
            score=self.score,
            kink_tol=self.kink_tol,
        )
        wrong = [f"{k} {have[k]!r} (comparison: {want[k]!r})" for k in want if have[k] != want[k]]
        if wrong:
            raise ValueError(
                "noise_floor was measured with another "
                + ", ".join(wrong)
                + "; measure it with the comparison's images, batch size, device, score and kink_tol"
            )

    def as_metrics(self) -> dict:
        """A JSON-ready dict (for a store cell)."""
        return dataclasses.asdict(self)

    def describe(self, kinks: bool = True) -> str:
        """One line; ``kinks=False`` for a network without kink layers (nothing pinned)."""
        head = f"noise floor ({self.method}, {self.images} image(s), batch {self.batch_size}): "
        if not kinks:
            return head + (
                f"logits {self.logits_rel_l2:.2e}, gradients {self.rel_l2:.2e} as computed; "
                f"{self.seconds:.0f} s"
            )
        return head + (
            f"logits {self.logits_rel_l2:.2e}, gradients {self.pinned_rel_l2:.2e} pinned "
            f"({self.rel_l2:.2e} as computed, {self.flips} unit(s) flipped), units near a kink moved "
            f"up to {self.near_kink_shift:.1e} of their layer's mean |z|; {self.seconds:.0f} s"
        )


def float64_copy(model) -> Classifier:
    """The classifier rebuilt in float64 with the same weights (cast), computing the
    same function; its name gets a ``-float64`` suffix.

    Every layer is rebuilt from its config with ``dtype="float64"``; a layer that
    cannot be (it takes objects in its constructor) may offer ``rebuilt(dtype)``
    giving an equivalent layer with the same weights in the same order.

    Raises:
        NoiseFloorError: a layer can be rebuilt neither way (named in the message).
    """
    clf = as_classifier(model)
    return dataclasses.replace(clf, name=f"{clf.name}-float64", model=_float64_model(clf.model))


def _float64_model(model):
    import keras

    def clone(layer):
        if isinstance(layer, keras.Model):
            return _float64_model(layer)
        if hasattr(layer, "rebuilt"):
            return layer.rebuilt("float64")
        try:
            return layer.__class__.from_config({**layer.get_config(), "dtype": "float64"})
        except (NotImplementedError, TypeError, ValueError) as exc:
            raise NoiseFloorError(
                f"layer {layer.name!r} ({type(layer).__name__}) of model {model.name!r} cannot be "
                f"rebuilt in float64 to measure float32's noise floor: {exc}".splitlines()[0]
            ) from None

    if not getattr(model, "inputs", None):
        raise NoiseFloorError(
            f"model {model.name!r} has no defined inputs; build it on an input shape to rebuild it in float64"
        )
    inputs = [keras.Input(tuple(t.shape[1:]), dtype="float64") for t in model.inputs]
    copy = keras.models.clone_model(
        model, input_tensors=inputs if len(inputs) > 1 else inputs[0], clone_function=clone
    )
    for layer, twin in zip(_weighted(model), _weighted(copy)):
        twin.set_weights([np.asarray(w, np.float64) for w in layer.get_weights()])
    return copy


def _weighted(model):
    import keras

    return [layer for layer in model.layers if layer.weights and not isinstance(layer, keras.Model)] + [
        inner for layer in model.layers if isinstance(layer, keras.Model) for inner in _weighted(layer)
    ]


def measure_noise_floor(
    model,
    images,
    *,
    targets=None,
    batch_size: int = 16,
    score: str = "logit",
    kink_tol: float = 1e-4,
    device: str | None = None,
) -> NoiseFloor:
    """Float32's rounding on ``images``: eager against eager in float64, same weights.

    Arguments as in :func:`saliency_core.agreement.variant_agreement`; measure it with the
    same ``images``, ``targets``, ``score``, ``kink_tol`` and ``device`` as the comparison it
    judges (``targets=None`` takes float64's top-1).

    Raises:
        NoiseFloorError: the network cannot be rebuilt in float64.
    """
    start = time.perf_counter()
    clf = as_classifier(model)
    x = np.asarray(images, clf.dtype)
    x = x[None] if x.ndim == len(clf.input_shape) else x
    c = compare(
        clf,
        x,
        "eager",
        reference=float64_copy(clf),
        reference_images=x.astype(np.float64),
        targets=targets,
        batch_size=batch_size,
        score=score,
        kink_tol=kink_tol,
        device=device,
    )
    return NoiseFloor(
        method=METHOD,
        dtype=clf.dtype,
        images=len(x),
        batch_size=min(batch_size, len(x)),
        device=device,
        score=score,
        kink_tol=kink_tol,
        logits_rel_l2=c.logits_rel_l2,
        logits_max_rel=c.logits_max_rel,
        rel_l2=c.rel_l2,
        pinned_rel_l2=c.pinned_rel_l2,
        near_kink_shift=c.near_kink_shift,
        flips=len(c.flips),
        max_flip_margin=c.max_flip_margin,
        pinning_moved=c.pinning_moved,
        seconds=time.perf_counter() - start,
    )
