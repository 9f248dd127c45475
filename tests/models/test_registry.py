"""Backbone registry: per-family preprocessing, logit outputs, offline weight errors."""

import numpy as np
import pytest

from saliency_core.models.registry import BACKBONES, BASELINE, list_models, load_model
from saliency_core.models.weights import WeightsUnavailableError

EXPECTED_FAMILY = {
    "resnet50": "caffe",
    "resnet101": "caffe",
    "vgg16": "caffe",
    "mobilenetv2": "tf",
    "inceptionv3": "tf",
    "densenet121": "torch",
    "efficientnetb0": "raw",
    "convnexttiny": "raw",
    "vit-b16": "tf",
}


def test_registry_covers_the_required_backbones_with_their_own_preprocessing():
    assert BASELINE == "resnet50"
    assert {name: b.preprocessing for name, b in BACKBONES.items()} == EXPECTED_FAMILY
    assert BACKBONES["inceptionv3"].input_size == (299, 299)
    names = [row["name"] for row in list_models()]
    assert "efficientnet-lite0" in names and set(EXPECTED_FAMILY) <= set(names)


@pytest.mark.parametrize("name", ["resnet50", "mobilenetv2", "densenet121"])
def test_random_weights_build_a_logit_model_at_a_small_size(name):
    clf = load_model(name, weights="random", input_size=(32, 32))
    assert clf.input_shape == (32, 32, 3)
    assert clf.preprocessing.name == EXPECTED_FAMILY[name]
    assert clf.weights == "random" and clf.num_classes == 1000
    # classifier_activation=None: outputs are logits, not probabilities.
    logits = np.asarray(
        clf.logits(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"))
    )
    assert not np.allclose(logits.sum(axis=1), 1.0)


def test_weights_file_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(WeightsUnavailableError, match="nope.weights.h5"):
        load_model("mobilenetv2", weights=str(missing), input_size=(32, 32))


def test_weights_file_round_trip(tmp_path):
    a = load_model("mobilenetv2", weights="random", input_size=(32, 32))
    path = tmp_path / "m.weights.h5"
    a.model.save_weights(str(path))
    b = load_model("mobilenetv2", weights=str(path), input_size=(32, 32))
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(a.logits(x)), np.asarray(b.logits(x)), rtol=1e-6)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'.*resnet50"):
        load_model("resnet9000")


def test_random_weights_are_reproducible_per_seed():
    a = load_model("mobilenetv2", weights="random", input_size=(32, 32), seed=1).model.get_weights()
    b = load_model("mobilenetv2", weights="random", input_size=(32, 32), seed=1).model.get_weights()
    c = load_model("mobilenetv2", weights="random", input_size=(32, 32), seed=2).model.get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    kernels = [w for w in a if w.ndim == 4 and w.shape[:2] == (1, 1) and w.std() > 0]
    assert len({k.tobytes()[:64] for k in kernels}) == len(kernels)  # no two layers share values


def test_randomization_test_redraws_a_random_weights_model_with_the_same_seed():
    # A backbone built with weights="random", seed 0 and the randomization test run
    # with seed 0 draw from different streams: the test must replace the weights, not
    # re-create the ones the model already holds (its maps would then never change).
    from saliency_core.models.init import random_weights
    from saliency_core.checks.randomization_blocks import randomization_blocks

    clf = load_model("mobilenetv2", weights="random", input_size=(32, 32), seed=0)
    compared = 0
    for block in randomization_blocks(clf):
        for layer in block:
            fresh, _ = random_weights(layer, 0)
            for v in layer.weights:
                current = v.numpy()
                if v.name in fresh and current.std() > 0:  # constant initializers stay constant
                    assert not np.array_equal(fresh[v.name], current), v.path
                    compared += 1
    assert compared >= 50
