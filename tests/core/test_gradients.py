"""The gradient contract: correct values (vs finite differences), identical variants, one trace."""

import numpy as np
import pytest

from saliency_core import Explainer, as_classifier, build_gradient_fn, saliency
from saliency_core.gradients import VARIANTS

from .models_for_tests import images, small_cnn


def _scores(model, batch, target, score):
    logits = np.asarray(model(batch)).astype(np.float64)
    if score == "probability":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, target]
    return logits[:, target]


def _central_differences(model, x, target, score, eps=1e-5):
    """Independent reference: (f(x + eps e_i) - f(x - eps e_i)) / 2 eps for every element."""
    basis = np.eye(x.size).reshape(x.size, *x.shape) * eps
    up = _scores(model, x[None] + basis, target, score)
    down = _scores(model, x[None] - basis, target, score)
    return ((up - down) / (2 * eps)).reshape(x.shape)


@pytest.mark.parametrize("score", ["logit", "probability"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_equals_central_finite_differences(variant, score):
    model = small_cnn("float64", size=6, channels=2)
    x = images(2, size=6, channels=2, dtype="float64")
    explainer = Explainer(model, variant=variant, score=score, batch_size=2)
    grads, logits, targets = explainer.gradients(x, np.array([1, -1]))
    assert targets[0] == 1 and targets[1] == np.argmax(logits[1])
    for i in range(2):
        reference = _central_differences(model, x[i], targets[i], score)
        rel = np.linalg.norm(grads[i] - reference) / np.linalg.norm(reference)
        assert rel < 1e-4, f"relative error {rel:.2e} vs central differences"


def test_variants_agree_in_float64():
    model = small_cnn("float64")
    x = images(5, dtype="float64")
    maps = {v: saliency(model, x, variant=v, reduce="none", batch_size=2) for v in VARIANTS}
    for v in ("function", "xla"):
        rel = np.linalg.norm(maps[v] - maps["eager"]) / np.linalg.norm(maps["eager"])
        assert rel < 1e-10, f"{v} differs from eager by {rel:.2e}"


@pytest.mark.parametrize("variant", ["function", "xla"])
def test_compiled_variants_trace_once_across_calls_and_batch_sizes(variant):
    clf = as_classifier(small_cnn())
    fn = build_gradient_fn(clf, variant=variant)
    import tensorflow as tf

    for n in (1, 3, 7, 3, 1):
        g, logits, t = fn(tf.constant(images(n)), tf.constant(np.full(n, -1, np.int32)))
        assert g.shape == (n, 8, 8, 3) and logits.shape == (n, 4)
    assert fn.traces == 1


def test_explainer_reuses_one_trace_and_pads_the_last_chunk():
    explainer = Explainer(small_cnn(), variant="xla", batch_size=4)
    a = explainer.explain(images(10)).maps
    b = explainer.explain(images(10)[:3]).maps
    assert explainer.fn.traces == 1
    np.testing.assert_allclose(b, a[:3], rtol=1e-5, atol=1e-7)
    # Batching never changes the numbers: one image at a time gives the same maps.
    single = np.concatenate(
        [
            Explainer(small_cnn(), variant="eager", batch_size=1).explain(images(10)[i : i + 1]).maps
            for i in range(10)
        ]
    )
    np.testing.assert_allclose(a, single, rtol=1e-5, atol=1e-7)


def test_saliency_function_caches_compiled_function_for_same_model():
    model = small_cnn()
    from saliency_core.explainer import _explainer_for

    saliency(model, images(2), variant="function", batch_size=2)
    first = _explainer_for(model, "function", "logit", 2, None)
    saliency(model, images(5), variant="function", batch_size=2)
    assert _explainer_for(model, "function", "logit", 2, None) is first
    assert first.fn.traces == 1


def test_default_target_is_top1_and_explicit_targets_are_used():
    model = small_cnn()
    x = images(4)
    result = Explainer(model, variant="eager").explain(x)
    np.testing.assert_array_equal(result.targets, np.argmax(np.asarray(model(x)), axis=1))
    other = Explainer(model, variant="eager").explain(x, targets=[0, 1, 2, 3])
    np.testing.assert_array_equal(other.targets, [0, 1, 2, 3])
    assert not np.allclose(other.maps, result.maps)


def test_softmax_head_is_bypassed_with_shared_weights():
    with_softmax = small_cnn(softmax=True)
    plain = small_cnn(softmax=False)
    plain.set_weights(with_softmax.get_weights())
    clf = as_classifier(with_softmax)
    assert clf.logits_source == "stripped-softmax"
    x = images(3)
    np.testing.assert_allclose(np.asarray(clf.model(x)), np.asarray(plain(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        saliency(with_softmax, x, variant="eager"), saliency(plain, x, variant="eager"), rtol=1e-5, atol=1e-7
    )
    # Shared variables: changing the trained model changes the logit model.
    head = with_softmax.get_layer("head")
    head.bias.assign(head.bias.numpy() + 1.0)
    np.testing.assert_allclose(np.asarray(clf.model(x)), np.asarray(plain(x)) + 1.0, rtol=1e-5, atol=1e-5)


def test_softmax_activation_layer_is_bypassed():
    import keras

    base = small_cnn()
    model = keras.Model(base.inputs, keras.layers.Softmax()(base.outputs[0]))
    clf = as_classifier(model)
    assert clf.logits_source == "stripped-softmax"
    np.testing.assert_allclose(np.asarray(clf.model(images(2))), np.asarray(base(images(2))), rtol=1e-6)


def test_nan_image_is_a_clear_error():
    x = images(3)
    x[1, 2, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"index \[1\].*NaN"):
        saliency(small_cnn(), x, variant="eager")


def test_wrong_shape_and_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="expects"):
        saliency(small_cnn(), images(2, size=9), variant="eager")
    with pytest.raises(ValueError, match="unknown variant"):
        saliency(small_cnn(), images(2), variant="jit")
    with pytest.raises(ValueError, match="unknown reduce"):
        saliency(small_cnn(), images(2), variant="eager", reduce="mean")
    with pytest.raises(ValueError, match="targets must be class ids"):
        saliency(small_cnn(), images(2), variant="eager", targets=[0, 9])


def _depthwise_cnn():
    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="dw_cnn")


def test_xla_on_cpu_warns_for_depthwise_convolutions_only():
    import warnings

    from saliency_core.explainer import XlaOnCpuWarning

    with pytest.warns(XlaOnCpuWarning, match="dw_cnn: variant='xla' on a CPU.*'function'"):
        Explainer(_depthwise_cnn(), variant="xla", device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error", XlaOnCpuWarning)
        Explainer(_depthwise_cnn(), variant="function", device="cpu")
        Explainer(small_cnn(), variant="xla", device="cpu")
        Explainer(_depthwise_cnn(), variant="xla", device="gpu")  # placement asked for: no CPU warning
