"""Users' model files: .keras, .h5, SavedModel; safe mode refuses Lambda layers."""

import keras
import numpy as np
import pytest

from saliency_core import saliency
from saliency_core.models.registry import load_model
from saliency_core.models.user import UnsafeModelError


def _model(softmax=True, lam=False):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    if lam:
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(3, activation="softmax" if softmax else None)(x)
    return keras.Model(inputs, out)


X = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_saved_file_round_trip_gives_the_same_maps(tmp_path, suffix):
    model = _model()
    path = tmp_path / f"user{suffix}"
    model.save(path)
    clf = load_model(str(path))
    assert clf.logits_source == "stripped-softmax" and clf.weights == str(path)
    assert not clf.raw_input  # no preprocessing named: inputs taken as given
    np.testing.assert_allclose(
        saliency(clf, X, variant="function"), saliency(model, X, variant="function"), rtol=1e-5, atol=1e-7
    )


def test_named_preprocessing_takes_raw_images(tmp_path):
    path = tmp_path / "user.keras"
    _model().save(path)
    clf = load_model(str(path), preprocessing="tf")
    assert clf.raw_input and clf.preprocessing.name == "tf"
    raw = X * 255.0
    np.testing.assert_allclose(
        np.asarray(clf.logits(raw)), np.asarray(clf.model(raw / 127.5 - 1.0)), rtol=1e-5, atol=1e-6
    )


def test_savedmodel_directory(tmp_path):
    model = _model(softmax=False)
    path = tmp_path / "exported"
    model.export(str(path))
    clf = load_model(str(path))
    np.testing.assert_allclose(np.asarray(clf.model(X)), np.asarray(model(X)), rtol=1e-5, atol=1e-6)
    assert saliency(clf, X, variant="eager").shape == (2, 8, 8)


def test_lambda_layer_is_refused_unless_unsafe(tmp_path):
    path = tmp_path / "lam.keras"
    _model(lam=True).save(path)
    with pytest.raises(UnsafeModelError, match=r"lam\.keras.*--unsafe"):
        load_model(str(path))
    clf = load_model(str(path), unsafe=True)
    assert clf.num_classes == 3


def test_corrupt_model_file_is_named(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="broken.keras"):
        load_model(str(path))
