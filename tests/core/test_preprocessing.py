"""Per-family preprocessing against keras.applications' own preprocess_input."""

import numpy as np
import pytest

from saliency_core import Explainer, get_preprocessing
from saliency_core.models.classifier import Classifier

RAW = np.random.default_rng(0).uniform(0, 255, size=(2, 6, 6, 3)).astype("float32")


@pytest.mark.parametrize(
    "family, module",
    [
        ("caffe", "resnet50"),
        ("caffe", "vgg16"),
        ("tf", "mobilenet_v2"),
        ("tf", "inception_v3"),
        ("torch", "densenet"),
        ("raw", "efficientnet"),
        ("raw", "convnext"),
    ],
)
def test_value_transform_matches_keras_applications(family, module):
    import importlib

    import keras

    reference = importlib.import_module(f"keras.applications.{module}").preprocess_input
    expected = np.asarray(reference(RAW.copy()))
    pre = get_preprocessing(family)
    np.testing.assert_allclose(
        np.asarray(pre.normalize(keras.ops.convert_to_tensor(RAW))), expected, rtol=1e-5, atol=1e-4
    )
    np.testing.assert_allclose(pre.normalize_numpy(RAW), expected, rtol=1e-5, atol=1e-4)


def test_lite0_transform_is_x_minus_127_over_128():
    pre = get_preprocessing("lite0")
    np.testing.assert_allclose(pre.normalize_numpy(RAW), (RAW - 127.0) / 128.0, rtol=1e-6)
    assert pre.input_size == (224, 224) and pre.crop_fraction == 224 / 256


def test_geometry_resizes_short_side_then_centre_crops():
    pre = get_preprocessing("caffe")
    img = np.zeros((300, 600, 3), np.uint8)
    img[:, 290:310] = 255  # a bright vertical bar at the centre
    out = pre.geometry(img)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    column_means = out[..., 0].mean(axis=0)
    centroid = (column_means * np.arange(224)).sum() / column_means.sum()
    assert abs(centroid - 111.5) < 1.5  # the bar stays centred after resize + crop


def test_gradient_through_preprocessing_follows_the_chain_rule():
    """d/draw = d/dnormalised * scale / std, with the channel order reversed for caffe."""
    import keras

    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    for family in ("caffe", "torch"):
        pre = get_preprocessing(family, (6, 6))
        raw_clf = Classifier("m", model, pre, raw_input=True)
        plain_clf = Classifier("m", model, pre, raw_input=False)
        g_raw, _, _ = Explainer(raw_clf, variant="eager").gradients(RAW, [0, 0])
        g_norm, _, _ = Explainer(plain_clf, variant="eager").gradients(pre.normalize_numpy(RAW), [0, 0])
        factor = pre.scale / np.asarray(pre.std, np.float32)
        expected = g_norm * factor
        if pre.bgr:
            expected = (g_norm * factor)[..., ::-1]
        np.testing.assert_allclose(g_raw, expected, rtol=1e-5)


def test_unknown_family_names_the_choices():
    with pytest.raises(ValueError, match="unknown preprocessing 'yolo'.*caffe"):
        get_preprocessing("yolo")
