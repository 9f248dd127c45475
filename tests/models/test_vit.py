"""ViT: the architecture against a numpy reference, and the harness on a tiny ViT.

References: Dosovitskiy et al. 2021 (Sec. 3.1, Eq. 1-4; ViT-B: hidden 768, 12 layers,
12 heads, MLP 3072) for the forward pass and the parameter count; for the FLOPs, a
Dense layer on T tokens is T·C_in·C_out multiply-adds, each head's q k^T and
softmax(...) v are T·T·(D/H) each, the patch projection is patches·(P·P·C)·D, and
one multiply-add is 2 FLOPs.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.special import erf

from saliency_core.models.classifier import Classifier
from saliency_core.models.init import RANDOM_WEIGHTS_STREAM, reinitialize
from saliency_core.models.preprocessing import get_preprocessing
from saliency_core.models.registry import BACKBONES, list_models, load_model
from saliency_core.models.vit import VIT_B16, ViTConfig, build_vit, vit_b16
from saliency_core.models.weights import WeightsUnavailableError

TINY = ViTConfig(
    image_size=32, patch_size=8, hidden_size=32, num_layers=2, num_heads=2, mlp_dim=64, num_classes=10
)
BLOCK_PARTS = ["ln_1", "query", "key", "value", "attention_output", "ln_2", "mlp_dense_1", "mlp_dense_2"]
MATMUL_OPS = ("Conv2D", "MatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum")


def _tiny(dtype="float32", seed=0):
    model = build_vit(TINY, dtype=dtype, name="tiny_vit")
    assert reinitialize(model, seed, stream=RANDOM_WEIGHTS_STREAM) == []  # every variable seeded
    return Classifier("tiny-vit", model, get_preprocessing("tf", TINY.image_size), weights="random")


@pytest.fixture(scope="module")
def tiny():
    return _tiny()


@pytest.fixture(scope="module")
def photos():
    return np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def _parameters(c: ViTConfig) -> int:
    """Closed form: patch projection, class token, position embeddings, L blocks
    (2 LayerNorms, q/k/v/output projections, 2 MLP layers), final norm, head."""
    d, m, t = c.hidden_size, c.mlp_dim, c.num_tokens
    block = 2 * 2 * d + 4 * (d * d + d) + (d * m + m) + (m * d + d)
    return (
        (c.patch_size**2 * c.channels * d + d)
        + d
        + t * d
        + c.num_layers * block
        + 2 * d
        + (d * c.num_classes + c.num_classes)
    )


def _matmul_flops(c: ViTConfig) -> tuple[int, int]:
    """(forward, saliency) FLOPs of the patch projection and the matrix products.

    Saliency = forward + input gradient. The input gradient of a product with a
    weight costs that product once; each attention product has two inputs that depend
    on the image, so its input gradient costs it twice.
    """
    d, m, t, L = c.hidden_size, c.mlp_dim, c.num_tokens, c.num_layers
    patch = 2 * c.num_patches * c.patch_size**2 * c.channels * d
    weights = L * 2 * (4 * t * d * d + 2 * t * d * m) + 2 * d * c.num_classes
    attention = L * 2 * (2 * t * t * d)
    forward = patch + weights + attention
    return forward, 2 * forward + attention


def _numpy_vit(model, x: np.ndarray, c: ViTConfig) -> np.ndarray:
    """The ViT forward pass (Dosovitskiy et al. 2021, Eq. 1-4) in float64 numpy, from
    the model's weights, for inputs already scaled to [-1, 1]."""
    w = {layer.name: [np.asarray(v.numpy(), np.float64) for v in layer.weights] for layer in model.layers}

    def ln(z, gamma, beta):
        mu = z.mean(-1, keepdims=True)
        var = ((z - mu) ** 2).mean(-1, keepdims=True)
        return (z - mu) / np.sqrt(var + c.layer_norm_epsilon) * gamma + beta

    def dense(z, name):
        return z @ w[name][0] + w[name][1]

    n, p, d, h = len(x), c.patch_size, c.hidden_size, c.num_heads
    gh, gw = c.image_size[0] // p, c.image_size[1] // p
    patches = x.reshape(n, gh, p, gw, p, c.channels).transpose(0, 1, 3, 2, 4, 5).reshape(n, gh * gw, -1)
    kernel, bias = w["patch_embedding"]
    z = patches @ kernel.reshape(-1, d) + bias
    z = (
        np.concatenate([np.broadcast_to(w["class_token"][0], (n, 1, d)), z], axis=1)
        + w["position_embedding"][0]
    )
    for i in range(c.num_layers):
        b = f"encoder_block_{i}"
        y = ln(z, *w[f"{b}_ln_1"])
        q, k, v = (
            dense(y, f"{b}_{part}").reshape(n, -1, h, d // h).transpose(0, 2, 1, 3)
            for part in ("query", "key", "value")
        )
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // h)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        z = z + dense((a @ v).transpose(0, 2, 1, 3).reshape(n, -1, d), f"{b}_attention_output")
        y = dense(ln(z, *w[f"{b}_ln_2"]), f"{b}_mlp_dense_1")
        z = z + dense(0.5 * y * (1 + erf(y / np.sqrt(2))), f"{b}_mlp_dense_2")
    return dense(ln(z, *w["encoder_norm"])[:, 0], "head")


# -- the architecture ------------------------------------------------------------------------


def test_tiny_vit_computes_the_paper_forward_pass():
    clf = _tiny("float64")
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3))
    got = np.asarray(clf.logits(x))
    want = _numpy_vit(clf.model, x / 127.5 - 1.0, TINY)
    scale = np.abs(want).max()
    assert scale > 0.1  # a non-trivial output
    # Both in float64, but tf.nn.gelu rounds its 1/sqrt(2) to float32 (math_ops.cast of a
    # Python float goes through float32): a relative 1.8e-8 in every erf argument, so
    # the two agree to ~1e-8 of the logits' scale, not to float64 rounding.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 * scale)
    norms = [layer for layer in clf.model.layers if type(layer).__name__ == "LayerNormalization"]
    assert len(norms) == 2 * TINY.num_layers + 1 and {n.epsilon for n in norms} == {1e-6}


def test_parameter_count_and_layer_names(tiny):
    assert tiny.model.count_params() == _parameters(TINY)
    names = {layer.name for layer in tiny.model.layers}
    for i in range(TINY.num_layers):
        assert {f"encoder_block_{i}_{part}" for part in BLOCK_PARTS} <= names
    assert {"patch_embedding", "class_token", "position_embedding", "encoder_norm", "head"} <= names
    assert tiny.num_classes == 10 and tiny.input_shape == (32, 32, 3)


def test_config_checks_its_shape():
    with pytest.raises(ValueError, match="multiples of the patch size 16"):
        ViTConfig(image_size=(224, 200))
    with pytest.raises(ValueError, match="not divisible by 5 heads"):
        ViTConfig(num_heads=5)
    assert VIT_B16.num_tokens == 197 and VIT_B16.image_size == (224, 224)


@pytest.fixture(scope="module")
def saved(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("vit") / "tiny_vit.keras"
    tiny.model.save(path)
    return path


def test_saved_model_file_loads_as_a_user_model(tiny, photos, saved):
    loaded = load_model(str(saved), preprocessing="tf")
    np.testing.assert_array_equal(np.asarray(loaded.logits(photos)), np.asarray(tiny.logits(photos)))


# -- the registry ------------------------------------------------------------------------------


def test_registry_entry_uses_the_tf_family_scaling_to_minus_one_one():
    entry = BACKBONES["vit-b16"]
    assert entry.preprocessing == "tf" and entry.input_size == (224, 224)
    pre = get_preprocessing(entry.preprocessing)
    # The authors' (x - 127.5) / 127.5.
    np.testing.assert_allclose(
        pre.normalize_numpy(np.array([[0.0, 127.5, 255.0]] * 3).T),
        np.array([[-1.0, 0.0, 1.0]] * 3).T,
        atol=1e-6,
    )
    [row] = [r for r in list_models() if r["name"] == "vit-b16"]
    assert "random | PATH" in row["weights"] and "imagenet (" not in row["weights"]


def test_imagenet_weights_fail_at_once_with_one_line():
    start = time.perf_counter()
    for call in (
        lambda: load_model("vit-b16"),
        lambda: load_model("vit-b16", input_size=(32, 32)),
        lambda: vit_b16(weights="imagenet"),
    ):
        with pytest.raises(WeightsUnavailableError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and "no ImageNet ViT weights install offline" in message
        assert "--weights PATH" in message and "--weights random" in message
    assert time.perf_counter() - start < 5  # nothing is built or downloaded


# -- FLOPs, randomization, kinks on the tiny ViT -----------------------------------------------


def test_flop_count_matches_the_closed_form(tiny):
    from saliency_core.harness.flops import count_flops

    count = count_flops(tiny)
    forward, saliency = _matmul_flops(TINY)
    assert sum(count.forward_by_op.get(op, 0) for op in MATMUL_OPS) == forward
    # The patch projection's input gradient is a Conv2DBackpropInput.
    assert sum(count.saliency_by_op.get(op, 0) for op in (*MATMUL_OPS, "Conv2DBackpropInput")) == saliency
    assert not set(count.uncounted) & {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum"}


def test_randomization_blocks_are_the_encoder_blocks_top_down(tiny):
    from saliency_core.checks.randomization_blocks import randomization_blocks

    blocks = randomization_blocks(tiny)
    names = [[layer.name for layer in block] for block in blocks]
    encoder = [
        [f"encoder_block_{i}_{part}" for part in BLOCK_PARTS] for i in reversed(range(TINY.num_layers))
    ]
    assert names == [
        ["head"],
        ["encoder_norm"],
        *encoder,
        ["position_embedding"],
        ["class_token"],
        ["patch_embedding"],
    ]
    # Every variable of the model in exactly one block.
    paths = [v.path for block in blocks for layer in block for v in layer.weights]
    assert sorted(paths) == sorted(v.path for v in tiny.model.weights)
    assert len(blocks[2][0].weights) == 2 and sum(len(layer.weights) for layer in blocks[2]) == 16


def test_cascading_mprt_runs_on_the_tiny_vit(tiny, photos):
    from saliency_core.checks.randomization import mprt

    trained = {v.path: v.numpy().copy() for v in tiny.model.weights}
    seen = []

    def changed(step, block, clone):
        seen.append({v.path for v in clone.weights if not np.array_equal(v.numpy(), trained[v.path])})

    result = mprt(
        tiny,
        photos,
        mode="cascading",
        method="gradient",
        seed=0,
        variant="function",
        batch_size=2,
        callback=changed,
    )
    assert len(result.blocks) == TINY.num_layers + 5 and result.blocks[2] == "encoder_block_1"
    assert np.isfinite(result.similarity).all()
    # Cascading: the variables changed by step k are exactly blocks 0..k's, less those
    # whose initializer is a constant this random-weights model already holds (zero
    # biases, LayerNorm 1/0, the zero class token).
    for k, paths in enumerate(seen):
        allowed = {
            v.path
            for layers in result.layers[: k + 1]
            for name in layers
            for v in tiny.model.get_layer(name).weights
        }
        assert paths <= allowed
        kernels = {
            v.path
            for name in result.layers[k]
            for v in tiny.model.get_layer(name).weights
            if v.name in ("kernel", "embeddings")
        }
        assert kernels <= paths
    trained_maps, random_maps = result.maps[0], result.maps[-1]
    diff = np.linalg.norm(random_maps - trained_maps) / np.linalg.norm(trained_maps)
    assert diff > 0.1  # unrelated maps, not a rounding-level change


def test_agreement_says_a_gelu_network_has_no_kinks(tiny, photos):
    from saliency_core.agreement import variant_agreement

    result = variant_agreement(tiny, photos, "function", batch_size=2)
    assert result.kink_layers == 0 and result.flips == [] and result.pinned_units == 0
    assert result.activations == ("gelu",)
    assert result.pinned_rel_l2 == result.rel_l2 and result.pinning_moved == 0.0  # as computed
    assert "no ReLU or max-pool kinks (gelu): compared as computed" in result.describe()
    assert "pinned" not in result.describe()


def test_agree_command_says_so_too(saved, capsys):
    from saliency_core.cli.main import main

    code = main(
        [
            "agree",
            "photos",
            "--model",
            str(saved),
            "--preprocessing",
            "tf",
            "--variant",
            "function",
            "--batch-size",
            "4",
        ]
    )
    printed = capsys.readouterr().out
    assert "no ReLU or max-pool kinks (gelu): compared as computed" in printed
    assert "compute the same function: yes (as computed, no kinks" in printed and code == 0


# -- the full model -----------------------------------------------------------------------------


@pytest.mark.slow
def test_vit_b16_has_86_6_million_parameters_and_its_closed_form_flops():
    from saliency_core.harness.flops import count_flops

    clf = load_model("vit-b16", weights="random")
    assert clf.model.count_params() == _parameters(VIT_B16) == 86_567_656
    assert clf.preprocessing.name == "tf" and clf.input_shape == (224, 224, 3) and clf.num_classes == 1000
    count = count_flops(clf)
    forward, _ = _matmul_flops(VIT_B16)
    assert sum(count.forward_by_op.get(op, 0) for op in MATMUL_OPS) == forward  # 35.13 GFLOP
