"""Itti-Koch-Niebur saliency: closed forms of N(.), pop-out displays, input handling,
and the method through the registry and the Explainer."""

import numpy as np
import pytest
from scipy import ndimage

from saliency_core.methods import get_method, resolve_options
from saliency_core.methods.itti_koch import IttiKochOptions, itti_koch_map, normalize_n

CELL = 2 ** IttiKochOptions().map_level  # input pixels per saliency-map pixel (16)


def disc(size, centre, radius):
    yy, xx = np.mgrid[:size, :size]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def bar(size, centre, length, width, theta):
    yy, xx = np.mgrid[:size, :size].astype(float)
    t = np.deg2rad(theta)
    dy, dx = yy - centre[0], xx - centre[1]
    along, across = dx * np.cos(t) - dy * np.sin(t), dx * np.sin(t) + dy * np.cos(t)
    return (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)


def grid_display(odd, draw, size=256, n=4, spacing=48):
    """An n x n array of items, centred; ``draw(centre, is_odd)`` returns an item mask."""
    margin = (size - n * spacing) / 2
    masks = {
        (i, j): draw((margin + spacing * (i + 0.5), margin + spacing * (j + 0.5)), (i, j) == odd)
        for i in range(n)
        for j in range(n)
    }
    return masks


def argmax(m):
    return np.unravel_index(np.argmax(m), m.shape)


# -- N(.) in closed form -----------------------------------------------------------
def test_normalization_operator_closed_forms():
    one = np.zeros((9, 9))
    one[4, 4] = 3.0
    np.testing.assert_array_equal(normalize_n(one), one / 3.0)  # no other maximum: m = 0
    two = np.zeros((9, 13))
    two[4, 2], two[4, 10] = 2.0, 1.0  # other maximum at 1/2 of M after scaling
    np.testing.assert_allclose(normalize_n(two), two / 2.0 * (1 - 0.5) ** 2, rtol=0, atol=0)
    twins = np.zeros((9, 13))
    twins[4, 2] = twins[4, 10] = 1.0  # two equal peaks: (M - m)^2 = 0
    assert not normalize_n(twins).any()
    plateau = np.zeros((9, 13))
    plateau[3:6, 1:4] = 1.0  # a plateau is one maximum, not nine
    plateau[4, 10] = 0.5
    np.testing.assert_array_equal(normalize_n(plateau), plateau * 0.25)
    small = two.copy()
    small[0, 12] = 0.05  # below the M/10 threshold: ignored
    np.testing.assert_allclose(normalize_n(small), (small / 2.0) * 0.25, rtol=0, atol=1e-15)
    assert not normalize_n(np.full((5, 5), 7.0)).any()


# -- pop-out -------------------------------------------------------------------------
@pytest.mark.parametrize("centre", [(40, 85), (90, 30), (64, 64), (25, 100)])
def test_odd_coloured_blob_on_uniform_field(centre):
    """An isoluminant red disc on grey: I = (r+g+b)/3 is flat, so only the colour
    channel sees it; the maximum lies on the disc (radius = one map cell)."""
    img = np.full((128, 128, 3), 0.5)
    mask = disc(128, centre, CELL)
    img[mask] = (0.8, 0.3, 0.4)
    m = itti_koch_map(img[None] * 255.0)[0]
    assert mask[argmax(m)]
    assert not itti_koch_map(img.mean(-1, keepdims=True)[None]).any()  # no intensity structure


@pytest.mark.parametrize("odd", [(0, 1), (2, 2)])
@pytest.mark.parametrize("colours", [((0.3, 0.8, 0.4), (0.8, 0.3, 0.4)), ((0.6, 0.6, 0.3), (0.3, 0.4, 0.8))])
def test_odd_colour_among_distractors(odd, colours):
    """One disc of another colour (same intensity) among 15 distractors."""
    distractor, target = colours
    masks = grid_display(odd, lambda c, is_odd: disc(256, c, 14))
    img = np.full((256, 256, 3), 0.5)
    for key, mask in masks.items():
        img[mask] = target if key == odd else distractor
    assert masks[odd][argmax(itti_koch_map(img[None])[0])]


@pytest.mark.parametrize("odd", [(0, 0), (1, 2), (3, 1)])
@pytest.mark.parametrize("base,odd_theta", [(0, 90), (45, 135)])
def test_odd_orientation_bar_among_bars(odd, base, odd_theta):
    """A grayscale array of 16 bars, one rotated by 90 degrees: only intensity and
    orientation channels exist. The maximum is nearer the odd bar than any distractor
    and within one map cell of it (the map's resolution)."""
    masks = grid_display(odd, lambda c, is_odd: bar(256, c, 36, 10, odd_theta if is_odd else base))
    img = np.zeros((256, 256, 1))
    for mask in masks.values():
        img[mask, 0] = 1.0
    peak = argmax(itti_koch_map(img[None])[0])
    dist = {k: ndimage.distance_transform_edt(~v)[peak] for k, v in masks.items()}
    assert min(dist, key=dist.get) == odd
    assert dist[odd] <= CELL


# -- input handling --------------------------------------------------------------
def test_uniform_images_give_zero_maps():
    x = np.stack([np.full((48, 64, 3), v) for v in (0.0, 7.0, -3.5, 255.0)])
    m = itti_koch_map(x)
    assert m.shape == (4, 48, 64)
    assert np.all(m == 0.0)


def test_shape_range_invariance_batch_and_determinism():
    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(0, 255, (3, 40, 56, 3)))
    x[1, 10:20, 20:30] = (255, 0, 0)
    m = itti_koch_map(x)
    assert m.shape == (3, 40, 56) and np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1
    np.testing.assert_array_equal(m, itti_koch_map(x))
    np.testing.assert_array_equal(m[1], itti_koch_map(x[1:2])[0])  # batch-independent
    # Another input range ([-255, 255], exact in float64) gives the same map.
    np.testing.assert_array_equal(m, itti_koch_map(2.0 * x - 255.0))


def test_small_images_need_two_pixels_at_the_coarsest_centre_level():
    itti_koch_map(np.random.default_rng(0).uniform(size=(1, 32, 40, 3)))
    with pytest.raises(ValueError, match="at least 32 x 32"):
        itti_koch_map(np.zeros((1, 31, 64, 3)))
    # Fewer levels, smaller minimum.
    itti_koch_map(
        np.random.default_rng(0).uniform(size=(1, 16, 16, 1)), IttiKochOptions(centre_max=3, map_level=3)
    )


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((32, 32, 3)), r"\(N, H, W, C\)"),
        (np.zeros((1, 32, 32, 2)), "1 \\(grayscale\\) or 3 \\(RGB\\)"),
        (np.where(np.eye(32)[None, ..., None], np.nan, 0.0) * np.ones(3), "index \\[0\\].*NaN"),
    ],
)
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=f"itti-koch.*{match}"):
        itti_koch_map(bad)


def test_bad_options_name_the_option():
    method = get_method("itti-koch")
    with pytest.raises(ValueError, match="itti-koch.centre_max"):
        itti_koch_map(np.zeros((1, 64, 64, 3)), resolve_options(method, {"centre_max": 1}))
    with pytest.raises(ValueError, match="has no option 'sigma'"):
        resolve_options(method, {"sigma": 1.0})


# -- registry and Explainer -----------------------------------------------------
def test_registered_as_a_control():
    method = get_method("itti-koch")
    assert method.kind == "control" and method.model_independent
    assert method.summary and "1998" in method.reference
    assert method.describe()["options"]["map_level"] == 4


def test_through_the_explainer_with_two_models():
    keras = pytest.importorskip("keras")
    from saliency_core.explainer import Explainer

    def tiny(seed):
        init = keras.initializers.GlorotUniform(seed=seed)
        inputs = keras.Input((48, 48, 3))
        x = keras.layers.Conv2D(2, 3, strides=4, kernel_initializer=init)(inputs)
        out = keras.layers.Dense(3, kernel_initializer=init)(keras.layers.Flatten()(x))
        return keras.Model(inputs, out)

    x = np.random.default_rng(1).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    x[0, 8:24, 24:40] = (250, 10, 10)
    a = Explainer(tiny(0), variant="eager").explain(x, method="itti-koch")
    b = Explainer(tiny(7), variant="eager").explain(x, method="itti-koch", options={"map_level": 3})
    assert a.method == "itti-koch" and a.options["map_level"] == 4 and b.options["map_level"] == 3
    np.testing.assert_array_equal(a.maps, itti_koch_map(x))
    np.testing.assert_array_equal(b.maps, itti_koch_map(x, IttiKochOptions(map_level=3)))
    assert not np.array_equal(a.maps, b.maps)
    c = Explainer(tiny(7), variant="eager").explain(x, method="itti-koch")
    np.testing.assert_array_equal(a.maps, c.maps)  # model-independent
