"""ROAD noisy linear imputation: the neighbour-mean equations, seeded noise, orderings.

Reference: Rong et al., ICML 2022; weights 1/6 (direct) and 1/12 (diagonal) and noise
0.01 of the value range from the authors' code (tleemann/road_evaluation,
road/imputations.py). The equations are checked here with an independent stencil
(padding and shifting), not with the sparse system under test.
"""

import keras
import numpy as np
import pytest

from saliency_core import Classifier, as_classifier, build_forward_fn, get_preprocessing
from saliency_core.checks.perturbation import PRESETS, ROAD_FRACTIONS
from saliency_core.checks.road import noisy_linear_impute, road_curve

STENCIL = np.array([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]])


def neighbour_mean(values):
    """Weighted mean of the in-image 8 neighbours of every pixel, (N, H, W, C)."""
    n, h, w, c = values.shape
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1), (0, 0)))
    inside = np.pad(np.ones((h, w)), 1)
    num, den = np.zeros_like(values), np.zeros((h, w))
    for dy in range(3):
        for dx in range(3):
            num += STENCIL[dy, dx] * padded[:, dy : dy + h, dx : dx + w]
            den += STENCIL[dy, dx] * inside[dy : dy + h, dx : dx + w]
    return num / den[None, :, :, None]


def removal_mask(rng, n=2, h=12, w=10):
    removed = rng.random((n, h, w)) < 0.5
    removed[0, 0, :] = True  # a whole border row
    removed[1, 3:9, 2:8] = True  # a block with no known pixel inside
    removed[:, -1, -1] = True  # a corner
    return removed


def test_imputed_pixels_satisfy_the_neighbour_mean_equations():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(2, 12, 10, 3))
    removed = removal_mask(rng)
    out = noisy_linear_impute(images, removed, noise_std=0.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(out[~removed], images[~removed])  # known pixels untouched
    residual = (out - neighbour_mean(out))[removed]
    assert np.abs(residual).max() < 1e-9, np.abs(residual).max()
    # A single image (H, W, C) gives the same answer as a batch of one.
    single = noisy_linear_impute(images[1], removed[1], noise_std=0.0, rng=np.random.default_rng(1))
    np.testing.assert_allclose(single, out[1], atol=1e-9)
    # A constant image is imputed by the same constant (weights renormalised at borders).
    flat = noisy_linear_impute(
        np.full((1, 12, 10, 3), 7.0), removed[:1], noise_std=0.0, rng=np.random.default_rng(1)
    )
    np.testing.assert_allclose(flat, 7.0, atol=1e-9)


def test_noise_is_seeded_and_only_on_removed_pixels():
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 1, size=(1, 64, 64, 3))
    removed = rng.random((1, 64, 64)) < 0.5
    clean = noisy_linear_impute(images, removed, noise_std=0.0, rng=np.random.default_rng(0))
    a = noisy_linear_impute(images, removed, noise_std=0.01, rng=np.random.default_rng(7))
    b = noisy_linear_impute(images, removed, noise_std=0.01, rng=np.random.default_rng(7))
    c = noisy_linear_impute(images, removed, noise_std=0.01, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(a[~removed], images[~removed])
    noise = (a - clean)[removed]
    assert abs(noise.std() - 0.01) < 0.001 and abs(noise.mean()) < 0.001


def test_every_pixel_removed_is_rejected():
    with pytest.raises(ValueError, match="at least one known pixel"):
        noisy_linear_impute(
            np.ones((1, 4, 4, 3)), np.ones((1, 4, 4), bool), noise_std=0.0, rng=np.random.default_rng(0)
        )


def two_class_linear(seed=0, size=16, n=3):
    """Softmax(2) over a linear model, images it assigns to class 0, and w (.) x."""
    rng = np.random.default_rng(seed)
    v = 0.1 * rng.normal(size=(size, size, 3))
    images = rng.normal(size=(n, size, size, 3))
    images *= np.sign((images * v).sum(axis=(1, 2, 3)))[:, None, None, None]
    model = keras.Sequential([keras.Input((size, size, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.layers[-1].set_weights([np.stack([v / 2, -v / 2], -1).reshape(-1, 2), np.zeros(2)])
    return model, images, (images * v).sum(axis=-1)


def test_road_curve_is_reproducible_and_records_the_preset():
    model, images, exact = two_class_linear()
    forward = build_forward_fn(as_classifier(model), variant="xla")
    a = road_curve(model, images, exact, order="most-relevant-first", seed=3, forward=forward)
    b = road_curve(model, images, exact, order="most-relevant-first", seed=3, forward=forward)
    c = road_curve(model, images, exact, order="most-relevant-first", seed=4, forward=forward)
    np.testing.assert_array_equal(a.curves, b.curves)
    assert not np.allclose(a.curves, c.curves)
    assert a.curves.shape == (3, 9) and a.fractions.tolist() == list(ROAD_FRACTIONS)
    preset = PRESETS["road-most-relevant-first"]
    for key in ("substrate", "score", "order", "noise"):
        assert a.config[key] == getattr(preset, key), key
    assert a.config["fractions"] == list(preset.fractions) and a.config["seed"] == 3
    assert forward.traces == 1 and a.counters["chunks"] == 1  # 27 images in one chunk


def test_road_morf_and_lerf_order_exact_attribution_against_its_reverse():
    model, images, exact = two_class_linear(seed=1)
    forward = build_forward_fn(as_classifier(model), variant="xla")
    random_map = np.random.default_rng(5).random(exact.shape)
    run = lambda m, order: (  # noqa: E731
        road_curve(
            model,
            images,
            m,
            order=order,
            seed=0,
            forward=forward,
            chunk_size=8,
        ).auc
    )
    morf = {
        k: run(m, "most-relevant-first")
        for k, m in (("exact", exact), ("random", random_map), ("reverse", -exact))
    }
    lerf = {k: run(m, "least-relevant-first") for k, m in (("exact", exact), ("reverse", -exact))}
    assert (morf["exact"] < morf["random"]).all() and (morf["random"] < morf["reverse"]).all()
    assert (lerf["exact"] > lerf["reverse"]).all()


def test_noise_scale_is_a_fraction_of_the_raw_rgb_range():
    rng = np.random.default_rng(2)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    clf = Classifier("lin", model, preprocessing=get_preprocessing("caffe", (8, 8)), raw_input=True)
    result = road_curve(
        clf,
        rng.uniform(0, 255, (1, 8, 8, 3)),
        rng.random((1, 8, 8)),
        order="least-relevant-first",
        fractions=(0.25, 0.5),
        seed=0,
    )
    assert result.config["value_range"] == [255.0]  # per image
    assert result.config["noise_std"] == pytest.approx([2.55])
    with pytest.raises(ValueError, match="at least one pixel"):
        road_curve(
            clf,
            np.zeros((1, 8, 8, 3)),
            np.zeros((1, 8, 8)),
            order="most-relevant-first",
            fractions=(0.5, 1.0),
            seed=0,
        )


def test_road_scores_the_class_the_map_explains():
    """Without noise the imputed images are fixed, and a linear model's logit of class
    k on them is ``w_k . x + b_k``: the curve for target k must be class k's."""
    rng = np.random.default_rng(6)
    w = 0.1 * rng.normal(size=(8, 8, 3, 3))
    bias = np.array([2.0, 0.0, -0.5])  # class 0 is the clean top-1
    images = 0.5 * rng.normal(size=(2, 8, 8, 3))
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3), dtype="float64"),
            keras.layers.Flatten(dtype="float64"),
            keras.layers.Dense(3, dtype="float64"),
        ]
    )
    model.layers[-1].set_weights([w.reshape(-1, 3), bias])
    maps = (w[..., 2] * images).sum(axis=-1)  # class 2's exact attribution
    fractions = (0.1, 0.3, 0.6)
    result = road_curve(
        model,
        images,
        maps,
        order="most-relevant-first",
        fractions=fractions,
        seed=0,
        noise=0.0,
        score="logit",
        targets=[2, 1],
    )
    default = road_curve(
        model,
        images,
        maps,
        order="most-relevant-first",
        fractions=fractions,
        seed=0,
        noise=0.0,
        score="logit",
    )
    order = np.argsort(-maps.reshape(2, -1), axis=1, kind="stable")
    for s, f in enumerate(fractions):
        removed = np.zeros((2, 64), bool)
        np.put_along_axis(removed, order[:, : int(f * 64)], True, axis=1)
        imputed = noisy_linear_impute(
            images, removed.reshape(2, 8, 8), noise_std=0.0, rng=np.random.default_rng(0)
        )
        logits = imputed.reshape(2, -1) @ w.reshape(-1, 3) + bias
        np.testing.assert_allclose(result.curves[:, s], logits[[0, 1], [2, 1]], atol=1e-10)
        np.testing.assert_allclose(default.curves[:, s], logits[:, 0], atol=1e-10)
    assert result.targets.tolist() == [2, 1] and result.config["targets"] == [2, 1]
    assert result.config["target_source"] == "given"
    assert default.targets.tolist() == [0, 0] and default.config["target_source"] == "clean top-1"


def test_noise_of_an_image_does_not_depend_on_the_others_in_its_call():
    """Per-image noise seeds (run seed and image content) and a per-image value range: an
    image's ROAD curve is the same alone and beside other images."""
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    images, maps = rng.uniform(0, 1, (3, 8, 8, 3)), rng.random((3, 8, 8))
    together = road_curve(model, images, maps, order="most-relevant-first", seed=4).curves
    alone = road_curve(model, images[2:], maps[2:], order="most-relevant-first", seed=4).curves
    np.testing.assert_allclose(alone[0], together[2], rtol=1e-6, atol=1e-7)
    other_seed = road_curve(model, images[2:], maps[2:], order="most-relevant-first", seed=5).curves
    assert not np.allclose(other_seed, alone)
