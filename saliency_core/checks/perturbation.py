"""Protocol settings of the perturbation (faithfulness) curves, and their substrates.

A deletion curve removes pixels from an image in the order a saliency map ranks
them and records the model's score after each step; an insertion curve starts from
a substrate (a blurred image) and puts the original pixels back in the same order.
:class:`CurveConfig` holds every setting that changes the numbers; each run records
it (``CurveResult.config``), so two results are comparable only if their configs are.

Substrates (what a removed pixel becomes), all expressed as raw input values so the
perturbed image goes through the classifier's own preprocessing:

* ``"zero-normalized"``: zero in the model's *normalised* input space, i.e. the raw
  value ``r`` with ``preprocessing.normalize(r) == 0`` (the per-channel ImageNet mean
  for a Caffe-preprocessed ResNet50). This is what RISE's reference code does: it
  zeroes the already-normalised tensor.
* ``"blur"``: a Gaussian blur of the image (RISE's insertion substrate), computed
  in normalised space with zero padding, exactly like the reference code.
* ``"mean"``: the image's own per-channel mean (ROAD's "fixed" imputer).
* ``"noisy-linear"``: ROAD's noisy linear imputation; the substrate depends on
  which pixels are removed, so it is computed per step on the CPU
  (:mod:`saliency_core.checks.road`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CurveConfig",
    "PRESETS",
    "SUBSTRATES",
    "SCORES",
    "ORDERS",
    "ROAD_FRACTIONS",
    "RISE_STEPS",
    "zero_normalized_value",
    "rise_blur_kernel",
]

SUBSTRATES = ("zero-normalized", "blur", "mean", "noisy-linear")
SCORES = ("probability", "logit")
ORDERS = ("most-relevant-first", "least-relevant-first")

# RISE moves 224 pixels per step on 224 x 224 inputs: 224 steps, 225 curve points.
# For another input size the step is scaled to keep about 224 steps:
# pixels_per_step = round(H * W / 224), at least 1.
RISE_STEPS = 224

# ROAD evaluates at fixed removal fractions; the paper's figures use 10 % ... 90 %.
ROAD_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class CurveConfig:
    """Settings of one deletion / insertion / ROAD protocol.

    Attributes:
        pixels_per_step: Pixels (H x W positions, all channels together) moved per
            step. ``None`` scales RISE's 224 px per step at 224 x 224 to the input:
            ``max(1, round(H * W / 224))``. Ignored when ``fractions`` is set.
        substrate: What removed pixels become (deletion) or what the curve starts
            from (insertion): "zero-normalized", "blur", "mean" or "noisy-linear".
        score: "probability" (softmax probability of the class the model predicts
            on the clean image) or "logit" (that class's pre-softmax logit).
        order: "most-relevant-first" (highest map value first) or
            "least-relevant-first".
        chunk_size: Perturbed images per compiled forward call (memory vs speed;
            does not change the numbers beyond float rounding of batched kernels).
        blur_kernel: Side of the square Gaussian kernel of the "blur" substrate, px.
        blur_sigma: Its standard deviation, px.
        fractions: Explicit fractions of H x W pixels removed at each curve point
            (ROAD style), instead of fixed-size steps; ``k = floor(f * H * W)``.
        noise: Standard deviation of the Gaussian noise added to imputed pixels by
            the "noisy-linear" substrate, as a fraction of the input value range
            (255 for raw-RGB classifiers).
    """

    pixels_per_step: int | None = None
    substrate: str = "zero-normalized"
    score: str = "probability"
    order: str = "most-relevant-first"
    chunk_size: int = 32
    blur_kernel: int = 11
    blur_sigma: float = 5.0
    fractions: tuple[float, ...] | None = None
    noise: float = 0.01

    def __post_init__(self):
        for name, value, allowed in (
            ("substrate", self.substrate, SUBSTRATES),
            ("score", self.score, SCORES),
            ("order", self.order, ORDERS),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        if self.pixels_per_step is not None and self.pixels_per_step < 1:
            raise ValueError(f"pixels_per_step must be >= 1, got {self.pixels_per_step}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.blur_kernel < 1 or self.blur_kernel % 2 == 0:
            raise ValueError(f"blur_kernel must be a positive odd size, got {self.blur_kernel}")
        if self.blur_sigma <= 0 or self.noise < 0:
            raise ValueError("blur_sigma must be > 0 and noise >= 0")
        if self.fractions is not None:
            f = np.asarray(self.fractions, dtype=np.float64)
            if f.ndim != 1 or f.size == 0 or (f < 0).any() or (f > 1).any() or (np.diff(f) <= 0).any():
                raise ValueError(f"fractions must be increasing values in [0, 1], got {self.fractions}")
            object.__setattr__(self, "fractions", tuple(float(v) for v in f))

    def resolve_pixels_per_step(self, height: int, width: int) -> int:
        """Pixels per step for an ``height x width`` input (224 at 224 x 224 by default)."""
        if self.pixels_per_step is not None:
            return int(self.pixels_per_step)
        return max(1, round(height * width / RISE_STEPS))

    def removed_counts(self, height: int, width: int) -> np.ndarray:
        """Pixels removed (deletion) or inserted (insertion) at each curve point, (S,) int.

        Fixed steps: ``k_i = min(i * pixels_per_step, H * W)`` for
        ``i = 0 .. ceil(H * W / pixels_per_step)``, so the curve runs from the
        untouched image to the fully replaced one (225 points for RISE at 224 x 224).
        Explicit ``fractions``: ``k = floor(f * H * W)``.
        """
        total = height * width
        if self.fractions is not None:
            return np.floor(np.asarray(self.fractions) * total + 1e-9).astype(np.int64)
        step = self.resolve_pixels_per_step(height, width)
        steps = -(-total // step)
        return np.minimum(np.arange(steps + 1, dtype=np.int64) * step, total)

    def fractions_for(self, height: int, width: int) -> np.ndarray:
        """The curve's x axis, (S,): fraction of the H x W pixels moved, in [0, 1]."""
        return self.removed_counts(height, width) / float(height * width)


# The presets. Each follows one paper's protocol; the numbers that the papers leave
# to their code are taken from the authors' reference implementations.
PRESETS: dict[str, CurveConfig] = {
    # Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of
    # Black-box Models", BMVC 2018 (arXiv:1806.07421), experiments section, the
    # "deletion" metric: the probability of the class predicted on the clean image
    # as the most salient pixels are replaced by zeros of the normalised input.
    # Step 224 px at 224 x 224, the zero substrate applied to the normalised tensor and
    # the AUC follow the authors' code (github.com/eclique/RISE: evaluation.py,
    # CausalMetric with n_steps = ceil(HW / step), scores at n_steps + 1 points, auc();
    # Evaluation.ipynb, deletion with torch.zeros_like as substrate_fn).
    "rise-deletion": CurveConfig(
        pixels_per_step=None, substrate="zero-normalized", score="probability", order="most-relevant-first"
    ),
    # Same paper, the "insertion" metric: start from a blurred copy of the image and
    # insert the original pixels, most salient first. Blur: Gaussian kernel 11 px,
    # sigma 5, zero padding (Evaluation.ipynb: gkern(11, 5), conv2d(padding=5)).
    "rise-insertion": CurveConfig(
        pixels_per_step=None,
        substrate="blur",
        score="probability",
        order="most-relevant-first",
        blur_kernel=11,
        blur_sigma=5.0,
    ),
    # Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation
    # Strategy for Attribution Methods", ICML 2022 (arXiv:2202.00449), section
    # "Noisy Linear Imputation" / ROAD: remove the most relevant pixels first (MoRF)
    # and impute them from their neighbours plus noise, at 10 % ... 90 % removed.
    # Noise 0.01 of the [0, 1] value range is the default of the authors' code
    # (github.com/tleemann/road_evaluation, road/imputations.py, NoisyLinearImputer).
    "road-most-relevant-first": CurveConfig(
        substrate="noisy-linear",
        score="probability",
        order="most-relevant-first",
        fractions=ROAD_FRACTIONS,
        noise=0.01,
    ),
    # Same paper and code, least relevant first (LeRF): a faithful map keeps the score high.
    "road-least-relevant-first": CurveConfig(
        substrate="noisy-linear",
        score="probability",
        order="least-relevant-first",
        fractions=ROAD_FRACTIONS,
        noise=0.01,
    ),
}


def zero_normalized_value(classifier) -> np.ndarray:
    """Raw input value per channel (C,) that the classifier's value transform maps to 0.

    For a classifier whose inputs are taken as given (``raw_input=False``) or with
    identity preprocessing this is 0. For a Caffe-preprocessed model (BGR, minus
    the ImageNet mean) it is the mean in RGB order, (123.68, 116.779, 103.939).
    Found from ``Preprocessing.normalize_numpy`` alone: the transform is affine per
    channel (possibly with a channel permutation), so two probes per channel solve it.
    """
    channels = classifier.input_shape[-1]
    pre = classifier.preprocessing
    if not classifier.raw_input or pre.is_identity:
        return np.zeros(channels, np.float64)
    zero = np.asarray(pre.normalize_numpy(np.zeros((1, channels))), np.float64)[0]
    value = np.empty(channels, np.float64)
    for c in range(channels):
        probe = np.zeros((1, channels))
        probe[0, c] = 1.0
        slope = np.asarray(pre.normalize_numpy(probe), np.float64)[0] - zero
        out = int(np.argmax(np.abs(slope)))  # the model channel fed by raw channel c
        value[c] = -zero[out] / slope[out]
    return value


def rise_blur_kernel(size: int, sigma: float) -> np.ndarray:
    """The (size, size) Gaussian kernel of RISE's blur substrate (sums to 1).

    Built as RISE's ``gkern`` does: a unit impulse in a ``size x size`` array filtered
    by ``scipy.ndimage.gaussian_filter(sigma)`` (reflecting borders), so the tails
    beyond the window are folded back in rather than cut off and renormalised.
    """
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((size, size), np.float64)
    impulse[size // 2, size // 2] = 1.0
    return gaussian_filter(impulse, sigma)
