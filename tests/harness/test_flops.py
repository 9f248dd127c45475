"""FLOP counts against hand-computed values, and the roof measurement.

References: a Conv2D layer does H_out·W_out·C_out·(k_h·k_w·C_in) multiply-adds and a
Dense layer C_in·C_out, 2 FLOPs each; the input gradient of a convolution costs what
the convolution costs. ResNet50 at 224x224: 7.76 GFLOP forward, 15.5 GFLOP saliency
(the issue's reference figure, also TensorFlow's profiler total).
"""

from __future__ import annotations

import keras
import pytest

from saliency_core import as_classifier
from saliency_core.harness.flops import count_flops, measure_roof


@pytest.mark.parametrize("strides", [1, 2])
def test_single_conv_is_two_macs_forward_and_again_for_the_input_gradient(strides):
    """TensorFlow counts Conv2DBackpropInput as input elements x k_h·k_w·C_out x 2 /
    (stride_h·stride_w): exactly the forward count for "same" padding."""
    inputs = keras.Input((12, 10, 3))
    x = keras.layers.Conv2D(8, (3, 5), strides=strides, padding="same", use_bias=False)(inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(x))
    macs = (12 // strides) * (10 // strides) * 8 * (3 * 5 * 3)
    count = count_flops(as_classifier(model))
    assert count.forward_by_op["Conv2D"] == 2 * macs
    assert count.forward == 2 * macs  # nothing else in this forward pass does arithmetic
    assert count.saliency_by_op["Conv2D"] == 2 * macs
    assert count.saliency_by_op["Conv2DBackpropInput"] == 2 * macs
    assert "Conv2DBackpropFilter" not in count.saliency_by_op  # filter gradients pruned


def test_single_dense_is_two_macs():
    inputs = keras.Input((7,))
    model = keras.Model(inputs, keras.layers.Dense(11, use_bias=False)(inputs))
    count = count_flops(as_classifier(model))
    assert count.forward == 2 * 7 * 11
    # input gradient: (1 x 11) @ (11 x 7) more
    assert count.saliency_by_op["MatMul"] == 2 * (2 * 7 * 11)


def _graph_flops(fn, *specs):
    import tensorflow as tf

    from saliency_core.harness.flops import graph_flops

    return graph_flops(tf.function(fn).get_concrete_function(*(tf.TensorSpec(s) for s in specs)))


@pytest.mark.parametrize("adj_x, adj_y", [(False, False), (True, False), (False, True), (True, True)])
def test_batched_matmul_counts_its_contraction_with_adjoints(adj_x, adj_y):
    """(2, 3, 5) @ (2, 5, 7): 2·3·5·7 multiply-adds, whichever operand is stored transposed
    (TensorFlow's registry read the contraction length of ``adj_x`` products wrongly)."""
    import tensorflow as tf

    a = (2, 5, 3) if adj_x else (2, 3, 5)
    b = (2, 7, 5) if adj_y else (2, 5, 7)
    total, by_op, _ = _graph_flops(lambda x, y: tf.linalg.matmul(x, y, adjoint_a=adj_x, adjoint_b=adj_y),
                                   a, b)
    assert total == sum(v for k, v in by_op.items() if k.startswith("BatchMatMul")) == 2 * 2 * 3 * 5 * 7


def test_einsum_is_counted_like_the_same_product():
    import tensorflow as tf

    total, by_op, uncounted = _graph_flops(lambda x, y: tf.einsum("bij,bjk->bik", x, y), (2, 3, 5), (2, 5, 7))
    assert by_op == {"Einsum": 2 * 2 * 3 * 5 * 7} and total == 2 * 2 * 3 * 5 * 7
    _, by_op, uncounted = _graph_flops(lambda x, y: tf.einsum("...j,jk->...k", x, y), (2, 3, 5), (5, 7))
    assert "Einsum" not in by_op and uncounted.get("Einsum") == 1  # ellipsis: left uncounted, said so


def test_keras_multi_head_attention_matches_its_closed_form():
    """Keras MultiHeadAttention (EinsumDense projections, einsum attention): q, k, v and
    output projections 4·T·D·(H·d) and the two attention products 2·H·T·T·d multiply-adds."""
    t, d, heads, key_dim = 6, 8, 2, 4
    inputs = keras.Input((t, d))
    out = keras.layers.MultiHeadAttention(heads, key_dim, use_bias=False)(inputs, inputs)
    model = keras.Model(inputs, keras.layers.Flatten()(out))
    count = count_flops(as_classifier(model))
    projections, attention = 4 * t * d * heads * key_dim, 2 * heads * t * t * key_dim
    # Keras on TensorFlow runs the projections' einsums as batched matrix products.
    assert count.forward_by_op["Einsum"] == 2 * attention
    assert count.forward_by_op["Einsum"] + count.forward_by_op.get("BatchMatMulV2", 0) \
        == 2 * (projections + attention)


def test_saliency_is_about_twice_the_forward_pass_for_a_conv_net():
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    count = count_flops(as_classifier(model, preprocessing="tf"))
    assert 1.85 < count.ratio < 2.15


@pytest.mark.slow
def test_resnet50_matches_the_reference_count():
    from saliency_core.models.registry import load_model

    count = count_flops(load_model("resnet50", weights="random"))
    assert count.forward / 1e9 == pytest.approx(7.76, abs=0.05)
    assert count.saliency / 1e9 == pytest.approx(15.5, abs=0.1)


def test_roof_is_a_plausible_rate():
    gflops = measure_roof(n=256, repeats=3)
    assert 0.05 < gflops < 1e5


def test_roof_of_a_missing_gpu_is_an_error_not_a_cpu_measurement():
    import tensorflow as tf

    from saliency_core.harness.timing import DeviceUnavailableError

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceUnavailableError):
        measure_roof(device="gpu", repeats=1)


def test_roof_fraction_is_the_flop_rate_over_the_roof_and_none_when_unknown():
    from saliency_core.harness.flops import roof_fraction

    assert roof_fraction(15.5e9, 10.0, 200.0) == pytest.approx(0.775)
    assert roof_fraction(None, 10.0, 200.0) is None
    assert roof_fraction(15.5e9, 10.0, None) is None
    assert roof_fraction(15.5e9, 0.0, 200.0) is None
