"""Why two execution variants' maps differ: rounding, or a ReLU unit at its kink.

The three variants compute the same function, but XLA sums float32 products in
another order than eager does, so a pre-activation differs by a few ulps between
them. That is harmless almost everywhere. At a ReLU's kink it is not: the gradient
of a ReLU network is piecewise constant in its activation pattern and jumps where a
pre-activation crosses zero. A unit whose pre-activation lies within rounding of
the kink can end up on one side in eager and on the other under XLA, and the input
gradient then differs by that unit's whole contribution, far more than rounding.

:func:`variant_agreement` separates the two. It records every kink unit (``ReLU``,
``Activation("relu")``/``"relu6"``, ``LeakyReLU`` layers) that falls on different
sides in the two variants, then pins every unit near a kink to one side in both
variants and compares again. If the variants compute the same function, what is
left then is rounding alone, and every flipped unit lies within rounding of its kink.
(Reading the sides from a separate forward pass is not enough to align one variant
with the other: XLA compiles the probe and the gradient separately, and a unit within
an ulp of zero can take different sides in the two. Pinning does not depend on it.)

Measured on a 2-core CPU (ResNet50 with random weights, seed 0, five photos, batch 5):
XLA's gradients are 2.6e-3 (relative L2) from eager's. 3 of the 45 million ReLU units
land on different sides, each within 2e-6 of zero in layers whose mean |z| is 2 to 5.
With the 3,461 units within 1e-4 of a kink pinned, the two agree to 1.3e-6.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .explainer import Explainer, XlaOnCpuWarning
from .gradients import VARIANTS
from .models.classifier import Classifier, as_classifier

__all__ = ["Agreement", "Flip", "KinkAnalysisError", "variant_agreement"]


class KinkAnalysisError(ValueError):
    """The model's ReLUs cannot be inspected (not separate layers of a functional model)."""


@dataclass(frozen=True)
class Flip:
    """One kink unit that lies on different sides in the two variants.

    Attributes:
        layer: Name of the ReLU layer.
        image: Index of the image in the batch.
        unit: Index of the unit within the layer's output for that image.
        z_eager, z_variant: The unit's pre-activation in eager and in the variant.
        kink: The kink the unit straddles (0, or a ReLU's threshold or max value).
        scale: Mean |pre-activation| of that layer for that image.
    """

    layer: str
    image: int
    unit: tuple[int, ...]
    z_eager: float
    z_variant: float
    kink: float
    scale: float

    @property
    def margin(self) -> float:
        """Distance of the farther of the two pre-activations from the kink, relative
        to the layer's scale: about 1e-7 (a float32 ulp) for a rounding flip."""
        far = max(abs(self.z_eager - self.kink), abs(self.z_variant - self.kink))
        return far / self.scale if self.scale > 0 else float("inf")


@dataclass
class Agreement:
    """How one variant's input gradients compare with eager's on a batch.

    Relative L2 is ``||g_variant - g_eager|| / ||g_eager||`` over the raw gradients
    (all channels); ``*_per_image`` give it image by image.

    Attributes:
        variant: The variant compared with eager.
        rel_l2, rel_l2_per_image: The gradients as computed.
        logits_rel_l2: The logits (the forward pass alone).
        top1_mismatch: Images whose top-1 class differs (both maps explain eager's).
        kink_layers: ReLU layers inspected; kink_units: their units over the batch.
        flips: Units on different sides of a kink in the two forward passes.
        kink_tol: Distance from a kink (relative to the layer's mean |z|) pinned.
        pinned_units: Units that were that close to a kink, in either variant.
        pinned_rel_l2, pinned_rel_l2_per_image: The two variants on the network
            with those units pinned below their kink: rounding alone when the
            variants compute the same function.
        pinning_moved: How far pinning moved eager's own gradients (relative L2).
    """

    variant: str
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

    @property
    def max_flip_margin(self) -> float:
        """Largest :attr:`Flip.margin` (0 when nothing flipped)."""
        return max((f.margin for f in self.flips), default=0.0)

    def describe(self) -> str:
        lines = [
            f"{self.variant} vs eager: gradients {self.rel_l2:.2e} relative L2, logits {self.logits_rel_l2:.2e}",
            f"units on different sides of a kink: {len(self.flips)} of {self.kink_units:,} "
            f"in {self.kink_layers} ReLU layers"
            + (f", each within {self.max_flip_margin:.1e} of its layer's mean |z| from the kink"
               if self.flips else ""),
        ]
        lines += [f"  {f.layer} image {f.image} unit {f.unit}: eager z={f.z_eager:+.3e}, "
                  f"{self.variant} z={f.z_variant:+.3e} (layer mean |z| {f.scale:.3g})" for f in self.flips[:10]]
        if len(self.flips) > 10:
            lines.append(f"  ... {len(self.flips) - 10} more")
        lines.append(f"with the {self.pinned_units:,} units within {self.kink_tol:g} of a kink pinned: "
                     f"gradients {self.pinned_rel_l2:.2e} relative L2 "
                     f"(pinning moved eager's by {self.pinning_moved:.2e})")
        if self.top1_mismatch:
            lines.append(f"top-1 class differs on {self.top1_mismatch} image(s); both maps explain eager's")
        return "\n".join(lines)


# -- kink layers -------------------------------------------------------------------
@dataclass(frozen=True)
class _Kinks:
    """A piecewise-linear ReLU: slope ``negative_slope`` below ``threshold``, identity
    up to ``max_value``, constant above it."""

    threshold: float = 0.0
    max_value: float | None = None
    negative_slope: float = 0.0

    def region(self, z: np.ndarray) -> np.ndarray:
        """0 below the threshold, 1 on the identity piece, 2 at or above max_value."""
        r = (z > self.threshold).astype(np.int8)
        if self.max_value is not None:
            r += (z >= self.max_value).astype(np.int8)
        return r

    def pin(self, za: np.ndarray, zb: np.ndarray, tol: np.ndarray) -> np.ndarray:
        """Regions that pin every unit within ``tol`` of a kink (in ``za`` or ``zb``)
        just below that kink; -1 for the others."""
        pattern = np.full(za.shape, -1, np.int8)
        near = lambda k: (np.abs(za - k) <= tol) | (np.abs(zb - k) <= tol)  # noqa: E731
        pattern[near(self.threshold)] = 0
        if self.max_value is not None:
            pattern[near(self.max_value)] = 1
        return pattern

    def kink(self, a: int, b: int) -> float:
        return self.max_value if max(a, b) == 2 and self.max_value is not None else self.threshold


def _kinks_of(layer):
    import keras

    if isinstance(layer, keras.layers.ReLU):
        mv = None if layer.max_value is None else float(layer.max_value)
        return _Kinks(float(layer.threshold), mv, float(layer.negative_slope))
    if isinstance(layer, keras.layers.LeakyReLU):
        return _Kinks(negative_slope=float(layer.negative_slope))
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", "")
        return {"relu": _Kinks(), "relu6": _Kinks(max_value=6.0)}.get(name)
    return None


def _kink_layers(model) -> list[tuple[object, _Kinks]]:
    import keras

    if not hasattr(model, "layers") or not hasattr(model, "inputs") or not model.inputs:
        raise KinkAnalysisError(f"model {getattr(model, 'name', model)!r} is not a functional Keras "
                                "model; the kink analysis reads its layers' inputs")
    found, fused = [], []
    for layer in model.layers:
        kinks = _kinks_of(layer)
        if kinks is not None:
            found.append((layer, kinks))
        elif isinstance(layer, keras.Model):
            if any(_kinks_of(inner) is not None for inner in layer._flatten_layers(include_self=False)):
                fused.append(f"{layer.name} (a nested model)")
        elif getattr(getattr(layer, "activation", None), "__name__", "") in ("relu", "relu6", "leaky_relu"):
            fused.append(f"{layer.name} ({type(layer).__name__} with activation={layer.activation.__name__})")
    if fused:
        raise KinkAnalysisError(
            f"model {model.name!r} applies ReLUs inside other layers: {', '.join(fused[:3])}"
            + (f" and {len(fused) - 3} more" if len(fused) > 3 else "")
            + "; the kink analysis needs each ReLU as its own layer (ReLU or Activation)")
    return found


def _probe_fn(clf: Classifier, layers, variant: str):
    """(images) -> [pre-activation of each kink layer..., logits], compiled like ``variant``."""
    import keras
    import tensorflow as tf

    model = clf.model
    probe = keras.Model(model.inputs, [layer.input for layer, _ in layers] + [model.outputs[0]])

    def body(x):
        if clf.raw_input:
            x = clf.preprocessing.normalize(x)
        return probe(x, training=False)

    if variant == "eager":
        return body
    return tf.function(body, jit_compile=(variant == "xla"))


class _Pattern:
    """Per-unit regions a pinned kink layer must take (-1: its own); a plain holder, so
    Keras does not track the variable as a weight of the model."""

    def __init__(self):
        self.value = None

    def assign(self, pattern: np.ndarray):
        import tensorflow as tf

        if self.value is None or tuple(self.value.shape) != pattern.shape:
            self.value = tf.Variable(pattern, trainable=False)
        else:
            self.value.assign(pattern)


def _pinned_classifier(clf: Classifier, layers):
    """A copy of the classifier whose kink layers follow a per-unit region pattern.

    Returns the copy and ``{layer name: _Pattern}``. The pattern is a variable read
    inside the layer, so a compiled variant traces and compiles once for all patterns.
    """
    import keras
    import tensorflow as tf

    by_name = {layer.name: kinks for layer, kinks in layers}
    patterns = {name: _Pattern() for name in by_name}

    class _PinnedKink(keras.layers.Layer):
        def __init__(self, kinks, pattern, **kwargs):
            super().__init__(**kwargs)
            self.kinks, self.pattern = kinks, pattern

        def call(self, z):
            k = self.kinks
            below = k.negative_slope * (z - k.threshold)
            top = tf.fill(tf.shape(z), tf.cast(k.max_value if k.max_value is not None else 0.0, z.dtype))
            own = tf.where(z > k.threshold, z, below)
            if k.max_value is not None:
                own = tf.where(z >= k.max_value, top, own)
            p = self.pattern.value
            return tf.where(p == 0, below, tf.where(p == 1, z, tf.where(p == 2, top, own)))

    def clone(layer):
        if layer.name in by_name:
            return _PinnedKink(by_name[layer.name], patterns[layer.name], name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(clf.model, clone_function=clone)
    copy.set_weights(clf.model.get_weights())
    pinned = Classifier(f"{clf.name}-pinned", copy, clf.preprocessing, clf.class_names,
                        clf.weights, clf.logits_source, clf.raw_input)
    return pinned, patterns


# -- the comparison ----------------------------------------------------------------
def _rel(a, b) -> float:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / nb if nb > 0 else float(np.linalg.norm(a - b))


def variant_agreement(model, images, variant: str = "xla", *, targets=None, batch_size: int = 16,
                      score: str = "logit", kink_tol: float = 1e-4) -> Agreement:
    """Compare ``variant``'s input gradients with eager's and explain the difference.

    Three passes: both variants' gradients as they are; both forward passes again to
    read every kink layer's pre-activations (the flips); both gradients once more on a
    copy of the network in which every unit within ``kink_tol`` of its kink (relative
    to its layer's mean |z| for that image, in either variant) is pinned below the
    kink. The pinned network is one piecewise-linear function with no unit that
    rounding can move across a kink, so two variants that compute the same function
    agree on it to rounding.

    Args:
        model: A :class:`Classifier` or a functional Keras model whose ReLUs are layers
            of their own (``ReLU``, ``Activation``, ``LeakyReLU``).
        images: (N, H, W, C) in the classifier's input space.
        variant: "function" or "xla".
        targets: Class ids, or None for eager's top-1 (both variants explain the same class).
        batch_size: Images per call, as in :class:`Explainer`; every pass uses the same chunks.
        score: "logit" or "probability".
        kink_tol: Distance from a kink, relative to the layer's mean |pre-activation|,
            within which a unit is pinned. A float32 ulp is 1.2e-7 relative.

    Raises:
        KinkAnalysisError: the model's ReLUs are fused into other layers or nested.
    """
    import tensorflow as tf

    if variant not in VARIANTS or variant == "eager":
        raise ValueError(f"variant must be 'function' or 'xla' (compared with eager), got {variant!r}")
    if not kink_tol > 0:
        raise ValueError(f"kink_tol must be > 0, got {kink_tol}")
    clf = as_classifier(model)
    layers = _kink_layers(clf.model)
    eager = Explainer(clf, variant="eager", score=score, batch_size=batch_size)
    images = eager._check_images(images)
    n = len(images)
    chunk = min(batch_size, n)
    g_eager, logits_eager, chosen = eager.gradients(images, targets)
    g_other, logits_other, _ = Explainer(clf, variant=variant, score=score,
                                         batch_size=batch_size).gradients(images, chosen)

    probes = {v: _probe_fn(clf, layers, v) for v in ("eager", variant)}
    pinned_clf, patterns = _pinned_classifier(clf, layers)
    with warnings.catch_warnings():  # said once already, for the network itself
        warnings.simplefilter("ignore", XlaOnCpuWarning)
        pinned_fns = {v: Explainer(pinned_clf, variant=v, score=score, batch_size=chunk) for v in probes}
    pinned = {v: np.empty_like(g_eager) for v in probes}
    flips, units, pinned_units = [], 0, 0
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x, t = images[start:start + m], chosen[start:start + m]
        if m < chunk:  # the same padding as Explainer, so every pass sees the same chunks
            x = np.concatenate([x, np.repeat(x[:1], chunk - m, axis=0)])
            t = np.concatenate([t, np.repeat(t[:1], chunk - m)])
        pre = {v: [z.numpy() for z in probes[v](tf.constant(x))[:-1]] for v in probes}
        for (layer, kinks), za, zb in zip(layers, pre["eager"], pre[variant]):
            units += int(np.prod(za.shape[1:])) * m
            scale = np.mean(np.abs(za), axis=tuple(range(1, za.ndim)), keepdims=True)
            pattern = kinks.pin(za, zb, kink_tol * scale)
            pattern[m:] = -1
            pinned_units += int(np.sum(pattern >= 0))
            patterns[layer.name].assign(pattern)
            ra, rb = kinks.region(za[:m]), kinks.region(zb[:m])
            for idx in map(tuple, np.argwhere(ra != rb)):
                flips.append(Flip(layer.name, start + int(idx[0]), tuple(int(i) for i in idx[1:]),
                                  float(za[idx]), float(zb[idx]), kinks.kink(ra[idx], rb[idx]),
                                  float(scale[idx[0]].item())))
        for v, fn in pinned_fns.items():
            pinned[v][start:start + m] = fn.gradients(x, t)[0][:m]

    per_image = lambda a, b: np.array([_rel(a[i], b[i]) for i in range(n)])  # noqa: E731
    return Agreement(
        variant=variant,
        rel_l2=_rel(g_other, g_eager), rel_l2_per_image=per_image(g_other, g_eager),
        logits_rel_l2=_rel(logits_other, logits_eager),
        top1_mismatch=int(np.sum(np.argmax(logits_other, -1) != np.argmax(logits_eager, -1))),
        kink_layers=len(layers), kink_units=units, flips=flips, kink_tol=kink_tol,
        pinned_units=pinned_units,
        pinned_rel_l2=_rel(pinned[variant], pinned["eager"]),
        pinned_rel_l2_per_image=per_image(pinned[variant], pinned["eager"]),
        pinning_moved=_rel(pinned["eager"], g_eager),
    )
