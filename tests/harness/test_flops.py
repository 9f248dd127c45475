"""FLOP counts against closed forms computed here by hand, and the roof's arithmetic.

References: a Conv2D layer does H_out·W_out·C_out·(k_h·k_w·C_in) multiply-adds (MACs)
and a Dense layer C_in·C_out, 2 FLOPs each. TensorFlow counts the input gradient of a
convolution (Conv2DBackpropInput) as 2 x input elements x k_h·k_w·C_out / (s_h·s_w).

ResNet50: the Keras model is ResNet v1 (He et al. 2016: a stage's stride 2 sits in its
first 1x1 convolution); its 53 convolutions and its classifier are enumerated below
and counted in closed form (3.858 GMACs). That count is checked against the published
figures: He et al. 2016, Table 1, "3.8 x 10^9 FLOPs" (multiply-adds) for ResNet-50,
and about 4.1 GMACs (torchvision's 4.09 "GFLOPS", which are multiply-adds; ~8.2 GFLOPs)
for v1.5, which moves the stride into the 3x3 convolution (4.089 GMACs by the same
closed form). Both are quoted to two significant digits, hence a 2% margin.
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
    total, by_op, _ = _graph_flops(
        lambda x, y: tf.linalg.matmul(x, y, adjoint_a=adj_x, adjoint_b=adj_y), a, b
    )
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
    assert count.forward_by_op["Einsum"] + count.forward_by_op.get("BatchMatMulV2", 0) == 2 * (
        projections + attention
    )


def test_conv_net_counts_equal_the_closed_form_and_the_gradient_doubles_them():
    """Three same-padded stride-1 convolutions and a Dense layer, counted by hand: the
    input-gradient pass repeats every convolution and matrix product once."""
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    count = count_flops(as_classifier(model, preprocessing="tf"))
    conv_macs = 32 * 32 * 16 * (9 * 3) + 16 * 16 * 32 * (9 * 16) + 8 * 8 * 64 * (9 * 32)
    assert count.forward_by_op["Conv2D"] == 2 * conv_macs == 5_603_328
    assert count.forward_by_op["MatMul"] == 2 * 64 * 10
    assert count.saliency_by_op["Conv2D"] == 2 * conv_macs
    assert count.saliency_by_op["Conv2DBackpropInput"] == 2 * conv_macs  # same padding, stride 1
    assert count.saliency_by_op["MatMul"] == 2 * (2 * 64 * 10)
    # The rest is element-wise (bias, BatchNorm, pooling, preprocessing): a few FLOPs
    # per activation element, which bounds it far below the convolutions' 5.6 MFLOPs.
    elements = 32 * 32 * 16 + 16 * 16 * 32 + 8 * 8 * 64 + 32 * 32 * 3
    assert 0 < count.forward - 2 * conv_macs - 2 * 64 * 10 < 8 * elements
    assert 0 < count.saliency - 4 * conv_macs - 4 * 64 * 10 < 16 * elements


# (bottleneck width, output channels, blocks, stride) of ResNet50's four stages.
RESNET50_STAGES = ((64, 256, 3, 1), (128, 512, 4, 2), (256, 1024, 6, 2), (512, 2048, 3, 2))
RESNET50_FC_MACS = 2048 * 1000


def resnet50_convs(stride_in_3x3: bool = False) -> list[tuple[int, int, int, int, int, int]]:
    """Every convolution of ResNet50 at 224 px as (input size, C_in, k, C_out, stride,
    output size). v1 (Keras, He et al.) strides the first 1x1 convolution of a stage,
    v1.5 (``stride_in_3x3``) its 3x3 convolution. The stem is a 7x7 stride-2 valid
    convolution of the 3-pixel zero-padded image (230 px -> 112 px); the 3x3
    convolutions are "same"-padded, so their input size is the unpadded one."""
    convs = [(230, 3, 7, 64, 2, 112)]
    size, c_in = 56, 64  # after the 3x3 stride-2 max pooling
    for width, c_out, blocks, stage_stride in RESNET50_STAGES:
        for block in range(blocks):
            stride = stage_stride if block == 0 else 1
            out = size // stride
            s1, s3 = (1, stride) if stride_in_3x3 else (stride, 1)
            mid = size // s1
            convs += [
                (size, c_in, 1, width, s1, mid),
                (mid, width, 3, width, s3, out),
                (out, width, 1, c_out, 1, out),
            ]
            if block == 0:
                convs.append((size, c_in, 1, c_out, stride, out))  # projection shortcut
            size, c_in = out, c_out
    return convs


def conv_macs(convs) -> int:
    return sum(out * out * k * k * c_in * c_out for _, c_in, k, c_out, _, out in convs)


def test_resnet50_closed_form_matches_the_published_counts():
    v1 = conv_macs(resnet50_convs()) + RESNET50_FC_MACS
    v15 = conv_macs(resnet50_convs(stride_in_3x3=True)) + RESNET50_FC_MACS
    assert len(resnet50_convs()) == 1 + 16 * 3 + 4  # stem, 16 bottlenecks, 4 projections
    assert v1 == 3_857_973_248 and v15 == 4_089_184_256
    assert v1 == pytest.approx(3.8e9, rel=0.02)  # He et al. 2016, Table 1
    assert 2 * v15 == pytest.approx(8.2e9, rel=0.02)  # ~4.1 GMACs (v1.5) = ~8.2 GFLOPs


@pytest.mark.slow
def test_resnet50_counts_equal_the_closed_form():
    from saliency_core.models.registry import load_model

    convs = resnet50_convs()
    count = count_flops(load_model("resnet50", weights="random"))
    assert count.forward_by_op["Conv2D"] == 2 * conv_macs(convs) == 7_711_850_496
    assert count.forward_by_op["MatMul"] == 2 * RESNET50_FC_MACS
    assert count.saliency_by_op["Conv2D"] == count.forward_by_op["Conv2D"]
    assert count.saliency_by_op["MatMul"] == 2 * count.forward_by_op["MatMul"]
    # TensorFlow's input-gradient convention: input elements x k^2 x C_out / stride^2.
    backprop = sum(
        2 * size * size * c_in * k * k * c_out // (stride * stride)
        for size, c_in, k, c_out, stride, _ in convs
    )
    assert count.saliency_by_op["Conv2DBackpropInput"] == backprop == 7_724_664_192
    # Element-wise work (bias, BatchNorm, residual adds, pooling, preprocessing): a few
    # FLOPs per activation element, 10.7 million elements next to 3.86 GMACs.
    elements = sum(out * out * c_out for _, _, _, c_out, _, out in convs) + 224 * 224 * 3
    dense = 2 * (conv_macs(convs) + RESNET50_FC_MACS)
    assert 0 < count.forward - dense < 8 * elements
    assert 0 < count.saliency - dense - backprop - 2 * RESNET50_FC_MACS < 16 * elements


def test_roof_is_two_n_cubed_over_the_fastest_timed_product(monkeypatch):
    """A scripted clock: the roof is 2·n³ FLOPs over the shortest of the timed
    products; the untimed first product does not count."""
    from types import SimpleNamespace

    import saliency_core.harness.flops as flops

    durations = [0.5, 0.25, 0.4]  # seconds taken by the three timed products
    ticks = iter([t for d in durations for t in (10.0, 10.0 + d)])
    monkeypatch.setattr(flops, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    products = []
    real = flops.np

    def matmul(a, b, out):
        products.append(a.shape)
        return real.matmul(a, b, out=out)

    monkeypatch.setattr(
        flops,
        "np",
        SimpleNamespace(matmul=matmul, random=real.random, float32=real.float32, empty=real.empty),
    )
    gflops = measure_roof(n=64, repeats=3)
    assert gflops == pytest.approx(2 * 64**3 / 0.25 / 1e9, rel=1e-12)
    assert products == [(64, 64)] * 4  # one untimed, three timed
    assert next(ticks, None) is None  # the clock was read exactly twice per timed product


def test_roof_of_a_missing_gpu_is_an_error_not_a_cpu_measurement():
    import tensorflow as tf

    from saliency_core.devices import DeviceUnavailableError

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
