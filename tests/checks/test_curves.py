"""Deletion / insertion curves: exact values on linear models, orderings, the RISE preset,
one compiled perturbation per chunk, and the metrics registry.

Reference values: for a linear model ``f(x) = w . x + b`` the score after moving the
pixel set ``R`` to the substrate ``s`` is exactly ``f(x) - sum_{p in R} w_p . (x_p - s_p)``,
so the whole curve and its trapezoid AUC are computed here in numpy from the weights,
the image and the map alone (independent of the code under test).
"""

import math

import keras
import numpy as np
import pytest
from scipy import ndimage

from saliency_core import Classifier, as_classifier, build_forward_fn, get_preprocessing
from saliency_core.checks.curve_scoring import pixel_ranks
from saliency_core.checks.curves import _perturb_fn, deletion_curve, insertion_curve
from saliency_core.checks.perturbation import PRESETS, CurveConfig, rise_blur_kernel, zero_normalized_value

CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)  # keras.applications caffe mean, BGR reversed


def linear_model(weights, bias, dtype="float32"):
    """Flatten -> Dense(K) with the given (H, W, C, K) weights and (K,) bias."""
    h, w, c, k = weights.shape
    model = keras.Sequential(
        [
            keras.Input((h, w, c), dtype=dtype),
            keras.layers.Flatten(dtype=dtype),
            keras.layers.Dense(k, dtype=dtype),
        ]
    )
    model.layers[-1].set_weights([weights.reshape(h * w * c, k), np.asarray(bias)])
    return model


def exact_curve(w, x, s, b, order, counts, insertion=False):
    """Logit of a 1-output linear model along the curve, and its trapezoid AUC.

    ``order``: pixel indices (raster, over H*W) in the order they are moved.
    Deletion moves pixels from x to s; insertion from s to x.
    """
    hw = x.shape[0] * x.shape[1]
    start, end = (s, x) if insertion else (x, s)
    change = ((end - start) * w).reshape(hw, -1).sum(axis=1)  # effect of moving each pixel
    base = float((start * w).sum() + b)
    moved = np.concatenate([[0.0], np.cumsum(change[order])])
    curve = base + moved[counts]
    fractions = counts / hw
    auc = sum(
        (curve[i] + curve[i + 1]) / 2 * (fractions[i + 1] - fractions[i]) for i in range(len(curve) - 1)
    )
    return curve, auc


# -- (1) closed form --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [("float32", 1e-5), ("float64", 1e-10)])
def test_deletion_curve_equals_closed_form_for_linear_model(dtype, tol):
    rng = np.random.default_rng(0)
    h, w_, c = 8, 8, 3
    weights = 0.1 * rng.normal(size=(h, w_, c, 1))
    images = rng.normal(size=(2, h, w_, c))
    maps = np.stack([rng.permutation(h * w_).reshape(h, w_) for _ in range(2)]).astype(float)
    model = linear_model(weights, [0.3], dtype)
    config = CurveConfig(pixels_per_step=5, substrate="zero-normalized", score="logit", chunk_size=7)
    result = deletion_curve(model, images, maps, config=config)

    counts = np.minimum(np.arange(14) * 5, 64)  # ceil(64 / 5) = 13 steps, the last one partial
    np.testing.assert_allclose(result.fractions, counts / 64, atol=0)
    aucs = []
    for i in range(2):
        order = np.argsort(-maps[i].ravel())  # distinct values: no ties
        curve, auc = exact_curve(weights[..., 0], images[i], np.zeros_like(images[i]), 0.3, order, counts)
        np.testing.assert_allclose(result.curves[i], curve, atol=tol, rtol=tol)
        np.testing.assert_allclose(result.auc[i], auc, atol=tol, rtol=tol)
        aucs.append(auc)
    mean_curve = np.mean(
        [
            exact_curve(weights[..., 0], images[i], 0 * images[i], 0.3, np.argsort(-maps[i].ravel()), counts)[
                0
            ]
            for i in range(2)
        ],
        0,
    )
    np.testing.assert_allclose(result.mean_curve_auc, np.trapezoid(mean_curve, counts / 64), atol=tol)
    np.testing.assert_allclose(result.mean_curve_auc, np.mean(aucs), atol=tol)  # trapezoid is linear
    assert result.targets.tolist() == [0, 0]


def test_zero_normalized_substrate_is_zero_after_caffe_preprocessing():
    """Closed form through a raw-RGB classifier: deleting to ``r0`` zeroes normalize(x_p)."""
    rng = np.random.default_rng(1)
    weights = 0.01 * rng.normal(size=(6, 6, 3, 1))
    model = linear_model(weights, [0.0])
    pre = get_preprocessing("caffe", (6, 6))
    clf = Classifier("linear-caffe", model, preprocessing=pre, raw_input=True)
    images = rng.uniform(0, 255, size=(1, 6, 6, 3))
    maps = rng.random((1, 6, 6))
    config = CurveConfig(pixels_per_step=4, score="logit")
    result = deletion_curve(clf, images, maps, config=config)

    normalized = pre.normalize_numpy(images[0]).astype(np.float64)  # model sees this
    counts = np.minimum(np.arange(10) * 4, 36)
    curve, auc = exact_curve(
        weights[..., 0], normalized, np.zeros_like(normalized), 0.0, np.argsort(-maps[0].ravel()), counts
    )
    np.testing.assert_allclose(result.curves[0], curve, atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(result.auc[0], auc, atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(result.config["substrate_value"], CAFFE_MEAN_RGB, rtol=1e-6)


def test_insertion_curve_equals_closed_form_from_blur_substrate():
    rng = np.random.default_rng(2)
    weights = 0.1 * rng.normal(size=(12, 12, 2, 1))
    images = rng.normal(size=(2, 12, 12, 2))
    maps = rng.random((2, 12, 12))
    model = linear_model(weights, [-0.2], "float64")
    config = CurveConfig(pixels_per_step=7, substrate="blur", score="logit", chunk_size=9)
    result = insertion_curve(model, images, maps, config=config)

    # RISE's blur, written out independently: the gkern impulse response (scipy
    # gaussian_filter of a centred unit impulse in an 11 x 11 window, sigma 5),
    # correlated with each channel, zero padding (zero = normalised zero; identity here).
    impulse = np.zeros((11, 11))
    impulse[5, 5] = 1
    kernel = ndimage.gaussian_filter(impulse, 5)
    counts = np.minimum(np.arange(22) * 7, 144)  # ceil(144 / 7) = 21 steps
    for i in range(2):
        blurred = np.stack(
            [ndimage.correlate(images[i][..., ch], kernel, mode="constant", cval=0.0) for ch in range(2)],
            axis=-1,
        )
        curve, auc = exact_curve(
            weights[..., 0], images[i], blurred, -0.2, np.argsort(-maps[i].ravel()), counts, insertion=True
        )
        np.testing.assert_allclose(result.curves[i], curve, atol=1e-10)
        np.testing.assert_allclose(result.auc[i], auc, atol=1e-10)


def test_mean_substrate_and_least_relevant_first_closed_form():
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(5, 5, 3, 1))
    images = rng.normal(size=(1, 5, 5, 3))
    maps = rng.permutation(25).reshape(1, 5, 5).astype(float)
    model = linear_model(weights, [0.0], "float64")
    config = CurveConfig(pixels_per_step=3, substrate="mean", score="logit", order="least-relevant-first")
    result = deletion_curve(model, images, maps, config=config)
    mean = np.broadcast_to(images[0].mean(axis=(0, 1)), images[0].shape)
    counts = np.minimum(np.arange(10) * 3, 25)
    curve, _ = exact_curve(weights[..., 0], images[0], mean, 0.0, np.argsort(maps[0].ravel()), counts)
    np.testing.assert_allclose(result.curves[0], curve, atol=1e-10)


def test_ties_are_broken_by_raster_index():
    """A constant map moves pixels in raster order (stable sort), deterministically."""
    rng = np.random.default_rng(4)
    weights = rng.normal(size=(4, 4, 1, 1))
    images = rng.normal(size=(1, 4, 4, 1))
    model = linear_model(weights, [0.0], "float64")
    result = deletion_curve(
        model, images, np.zeros((1, 4, 4)), config=CurveConfig(pixels_per_step=1, score="logit")
    )
    curve, _ = exact_curve(weights[..., 0], images[0], 0 * images[0], 0.0, np.arange(16), np.arange(17))
    np.testing.assert_allclose(result.curves[0], curve, atol=1e-10)
    tied = np.array([[[1.0, 3.0], [3.0, 2.0]]])
    assert pixel_ranks(np.zeros((1, 2, 2))).tolist() == [[0, 1, 2, 3]]
    assert pixel_ranks(tied).tolist() == [[3, 0, 1, 2]]
    assert pixel_ranks(tied, "least-relevant-first").tolist() == [[0, 2, 3, 1]]


def three_class_problem(seed=5, n=2, size=6):
    """A 3-class linear model, images whose top-1 class is 0, and maps for class 2."""
    rng = np.random.default_rng(seed)
    weights = 0.1 * rng.normal(size=(size, size, 3, 3))
    bias = np.array([2.0, 0.0, -0.5])  # class 0 wins on the clean images
    images = 0.5 * rng.normal(size=(n, size, size, 3))
    maps = (weights[..., 2] * images).sum(axis=-1)  # class 2's exact attribution
    return weights, bias, images, maps


@pytest.mark.parametrize("insertion", [False, True], ids=["deletion", "insertion"])
def test_curve_scores_the_class_the_map_explains(insertion):
    """A map made for class 2 is judged on class 2: the curve follows class 2's
    closed form, in logits and in softmax probabilities (all three classes' closed
    forms, softmaxed here), not the clean top-1 class's."""
    weights, bias, images, maps = three_class_problem()
    model = linear_model(weights, bias, "float64")
    assert (np.asarray(model(images)).argmax(axis=1) == 0).all()
    curve_fn = insertion_curve if insertion else deletion_curve
    substrate = "mean" if insertion else "zero-normalized"
    counts = np.minimum(np.arange(10) * 4, 36)
    logit_cfg = CurveConfig(pixels_per_step=4, substrate=substrate, score="logit")
    prob_cfg = CurveConfig(pixels_per_step=4, substrate=substrate, score="probability")

    given = curve_fn(model, images, maps, targets=[2, 2], config=logit_cfg)
    default = curve_fn(model, images, maps, config=logit_cfg)
    probs = curve_fn(model, images, maps, targets=np.array([2, 2]), config=prob_cfg)
    for i in range(len(images)):
        order = np.argsort(-maps[i].ravel())
        sub = (images[i].mean(axis=(0, 1)) * np.ones_like(images[i])) if insertion else 0 * images[i]
        per_class = np.stack(
            [
                exact_curve(weights[..., k], images[i], sub, bias[k], order, counts, insertion=insertion)[0]
                for k in range(3)
            ],
            -1,
        )
        np.testing.assert_allclose(given.curves[i], per_class[:, 2], atol=1e-10)
        np.testing.assert_allclose(default.curves[i], per_class[:, 0], atol=1e-10)
        softmax = np.exp(per_class - per_class.max(1, keepdims=True))
        np.testing.assert_allclose(
            probs.curves[i], (softmax / softmax.sum(1, keepdims=True))[:, 2], atol=1e-10
        )
    assert not np.allclose(given.curves, default.curves)
    assert given.targets.tolist() == [2, 2] and default.targets.tolist() == [0, 0]
    assert given.config["targets"] == [2, 2] and given.config["target_source"] == "given"
    assert default.config["targets"] == [0, 0] and default.config["target_source"] == "clean top-1"


def test_targets_minus_one_is_the_clean_top1_and_bad_targets_are_refused():
    weights, bias, images, maps = three_class_problem()
    model = linear_model(weights, bias, "float64")
    config = CurveConfig(pixels_per_step=9, substrate="zero-normalized", score="logit")
    mixed = deletion_curve(model, images, maps, targets=[1, -1], config=config)
    alone = [
        deletion_curve(model, images[i : i + 1], maps[i : i + 1], targets=t, config=config)
        for i, t in ((0, 1), (1, 0))
    ]
    assert mixed.targets.tolist() == [1, 0] and mixed.config["target_source"] == "given (-1: clean top-1)"
    np.testing.assert_allclose(mixed.curves, np.concatenate([a.curves for a in alone]), atol=1e-12)
    one_for_all = deletion_curve(model, images, maps, targets=2, config=config)
    assert one_for_all.targets.tolist() == [2, 2]
    for bad, match in (
        ([3, 0], r"in \[0, 3\)"),
        ([0, -2], r"in \[0, 3\)"),
        ([0, 1, 2], "one per image"),
        ([0.0, 1.0], "integer"),
    ):
        with pytest.raises(ValueError, match=match):
            deletion_curve(model, images, maps, targets=bad, config=config)


# -- (2) good and bad orderings, by construction ------------------------------------------------------
def two_class_linear(seed=0, size=16, n=3):
    """Softmax(2) over a linear model and images it assigns to class 0."""
    rng = np.random.default_rng(seed)
    v = 0.1 * rng.normal(size=(size, size, 3))
    images = rng.normal(size=(n, size, size, 3))
    images *= np.sign((images * v).sum(axis=(1, 2, 3)))[:, None, None, None]  # class 0 wins
    model = linear_model(np.stack([v / 2, -v / 2], axis=-1), [0.0, 0.0])
    exact = (images * v).sum(axis=-1)  # w (.) x summed over channels (logit difference)
    return model, images, exact


def test_exact_attribution_beats_random_and_its_reverse_loses():
    model, images, exact = two_class_linear()
    random_map = np.random.default_rng(123).random(exact.shape)
    # Zero substrate for both curves: w (.) x is the exact attribution relative to it.
    config = CurveConfig(substrate="zero-normalized", score="probability")
    forward = build_forward_fn(as_classifier(model), variant="xla")
    maps = (("exact", exact), ("random", random_map), ("reverse", -exact))
    deletion = {
        name: deletion_curve(model, images, m, config=config, forward=forward).auc for name, m in maps
    }
    insertion = {
        name: insertion_curve(model, images, m, config=config, forward=forward).auc for name, m in maps
    }
    assert (deletion["exact"] < deletion["random"]).all()
    assert (deletion["random"] < deletion["reverse"]).all()
    assert (insertion["exact"] > insertion["random"]).all()
    assert (insertion["random"] > insertion["reverse"]).all()
    assert forward.traces == 1


# -- (3) the RISE preset -----------------------------------------------------------------------------
def test_rise_preset_settings():
    deletion, insertion = PRESETS["rise-deletion"], PRESETS["rise-insertion"]
    for preset in (deletion, insertion):
        assert preset.resolve_pixels_per_step(224, 224) == 224
        fractions = preset.fractions_for(224, 224)
        assert len(fractions) == 225 and fractions[0] == 0 and fractions[-1] == 1
        np.testing.assert_allclose(np.diff(fractions), 1 / 224)
        assert preset.score == "probability" and preset.order == "most-relevant-first"
    assert deletion.substrate == "zero-normalized"
    assert insertion.substrate == "blur" and insertion.blur_kernel == 11 and insertion.blur_sigma == 5
    # Other sizes keep ~224 steps: H * W / 224 pixels per step, rounded, at least 1.
    assert deletion.resolve_pixels_per_step(16, 16) == 1 and deletion.resolve_pixels_per_step(32, 32) == 5
    kernel = rise_blur_kernel(11, 5)
    assert kernel.shape == (11, 11) and abs(kernel.sum() - 1) < 1e-12
    np.testing.assert_allclose(kernel, kernel.T)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1])
    assert kernel.argmax() == 60  # centre
    # Zero in the normalised space of a caffe model = the raw per-channel ImageNet mean.
    clf = Classifier(
        "c",
        linear_model(np.zeros((4, 4, 3, 2)), [0, 0]),
        preprocessing=get_preprocessing("caffe", (4, 4)),
        raw_input=True,
    )
    r0 = zero_normalized_value(clf)
    np.testing.assert_allclose(r0, CAFFE_MEAN_RGB, rtol=1e-7)
    np.testing.assert_allclose(clf.preprocessing.normalize_numpy(r0), 0, atol=1e-4)


def test_rise_deletion_run_at_224_records_the_protocol():
    rng = np.random.default_rng(5)
    model = linear_model(1e-4 * rng.normal(size=(224, 224, 3, 2)), [0.5, -0.5])
    clf = Classifier("lin224", model, preprocessing=get_preprocessing("caffe"), raw_input=True)
    images = rng.uniform(0, 255, size=(1, 224, 224, 3))
    result = deletion_curve(clf, images, rng.random((1, 224, 224)))
    cfg = result.config
    assert result.fractions.shape == (225,) and result.curves.shape == (1, 225)
    assert cfg["pixels_per_step"] == 224 and cfg["points"] == 225 and cfg["curve"] == "delete"
    assert cfg["substrate"] == "zero-normalized" and cfg["score"] == "probability"
    np.testing.assert_allclose(cfg["substrate_value"], CAFFE_MEAN_RGB, rtol=1e-6)
    # First point: clean top-1 probability; last: every pixel at r0, so logits = bias.
    logits = np.asarray(clf.logits(images.astype("float32")), np.float64)[0]
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    target = int(np.argmax(logits))
    assert result.targets.tolist() == [target]
    np.testing.assert_allclose(result.curves[0, 0], p[target], rtol=1e-5)
    np.testing.assert_allclose(
        result.curves[0, -1], [np.exp(0.5), np.exp(-0.5)][target] / (np.exp(0.5) + np.exp(-0.5)), rtol=1e-4
    )


# -- (5) one compiled perturbation per chunk ------------------------------------------------------------
def test_perturbation_runs_in_one_compiled_function_per_chunk():
    rng = np.random.default_rng(6)
    model = linear_model(rng.normal(size=(8, 8, 3, 4)), np.zeros(4))
    clf = as_classifier(model)
    forward = build_forward_fn(clf, variant="xla")
    images, maps = rng.normal(size=(3, 8, 8, 3)), rng.random((3, 8, 8))
    config = CurveConfig(pixels_per_step=1, chunk_size=7)  # 65 points x 3 images = 195 pairs
    a = deletion_curve(clf, images, maps, config=config, forward=forward)
    b = insertion_curve(
        clf,
        images,
        maps,
        config=CurveConfig(pixels_per_step=1, chunk_size=7, substrate="blur"),
        forward=forward,
    )
    for result in (a, b):
        chunks = math.ceil(195 / 7)
        assert result.counters["chunks"] == chunks == result.counters["perturb_calls"]
        assert result.counters["perturb_traces"] == 1
        assert result.counters["padded_images"] == chunks * 7 - 195
    assert forward.traces == 1 and a.counters["forward_new_traces"] == 1
    assert b.counters["forward_new_traces"] == 0
    # one perturbation function per image shape and dtype in the process, traced once
    shared = _perturb_fn((8, 8, 3), "float32")
    assert shared is _perturb_fn((8, 8, 3), "float32") and shared.traces == 1
    assert shared is not _perturb_fn((8, 8, 1), "float32")
    # Chunking changes nothing but speed.
    c = deletion_curve(clf, images, maps, config=CurveConfig(pixels_per_step=1, chunk_size=64))
    np.testing.assert_allclose(c.curves, a.curves, rtol=1e-5, atol=1e-7)


def test_rejects_bad_inputs():
    model = linear_model(np.zeros((4, 4, 3, 2)), [0, 0])
    with pytest.raises(ValueError, match="maps must be"):
        deletion_curve(model, np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 5)))
    with pytest.raises(ValueError, match="road_curve"):
        deletion_curve(
            model, np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4)), config=PRESETS["road-most-relevant-first"]
        )
    with pytest.raises(ValueError, match="unknown substrate"):
        CurveConfig(substrate="zeros")
