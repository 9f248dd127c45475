"""Model-parameter randomization and random-logit tests on a tiny CNN."""

import keras
import numpy as np
import pytest

from saliency_core.checks.randomization import ALL_LAYERS, MODES, RandomizationClone, mprt
from saliency_core.models.init import layer_seed, random_weights
from saliency_core.checks.random_logit_test import random_logit
from saliency_core.checks.randomization_blocks import randomization_blocks
from saliency_core.checks.similarity import SIMILARITIES

SIZE = 12


def _tiny_cnn(softmax=False):
    """ResNet-style names, a generic conv + BatchNorm pair, two same-shape convs."""
    L = keras.layers
    x = inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(8, 3, padding="same", name="conv1_conv")(x)
    x = L.BatchNormalization(name="conv1_bn")(x)
    x = L.ReLU(name="conv1_relu")(x)
    x = L.Conv2D(8, 3, padding="same", name="conv2_block1_1_conv")(x)
    x = L.BatchNormalization(name="conv2_block1_1_bn")(x)
    x = L.ReLU(name="conv2_block1_1_relu")(x)
    x = L.Conv2D(8, 3, padding="same", name="conv2_block1_2_conv")(x)
    x = L.Conv2D(
        8,
        3,
        padding="same",
        name="plain_conv",
        kernel_initializer=keras.initializers.RandomNormal(stddev=3.0),
        bias_initializer=keras.initializers.Constant(0.25),
    )(x)
    x = L.ReLU(name="plain_relu")(x)
    x = L.BatchNormalization(name="plain_bn")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(5, name="predictions", activation="softmax" if softmax else None)(x)
    model = keras.Model(inputs, out)
    # "Trained" weights: seeded, and every variable (BN statistics, biases) non-default.
    rng = np.random.default_rng(123)
    model.set_weights(
        [
            rng.normal(0, 0.3, w.shape).astype("float32")
            + (1.0 if "variance" in v.path or "gamma" in v.path else 0.0)
            for w, v in zip(model.get_weights(), model.weights)
        ]
    )
    for v in model.weights:
        if "variance" in v.path:
            v.assign(np.abs(v.numpy()) + 0.5)
    return model


@pytest.fixture(scope="module")
def model():
    return _tiny_cnn()


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (3, SIZE, SIZE, 3)).astype("float32")


def _weights(model):
    return {v.path: np.array(v.numpy(), copy=True) for v in model.weights}


def _names(blocks):
    return [[layer.name for layer in block] for block in blocks]


def test_blocks_ordered_from_output_to_input(model):
    assert _names(randomization_blocks(model)) == [
        ["predictions"],
        ["plain_conv", "plain_bn"],  # BN joins the conv that feeds it (through the ReLU)
        ["conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_2_conv"],  # name prefix
        ["conv1_conv", "conv1_bn"],
    ]


def test_synthetic_cnn_blocks():
    from saliency_core.data.synthetic_cnn import small_cnn

    names = _names(randomization_blocks(small_cnn(4, image_size=16, seed=0, filters=(4, 8))))
    assert names == [["logits"], ["block2_conv"], ["block1_conv"]]


def test_layer_seed_is_stable_and_distinct(model):
    # A fixed value: the seed must not depend on the process (Python's hash() is salted).
    assert layer_seed(0, "conv1_conv") == 769435606
    assert layer_seed(0, "conv1_conv") != layer_seed(1, "conv1_conv")
    names = [layer.name for block in randomization_blocks(model) for layer in block]
    seeds = {layer_seed(0, n, v) for n in names for v in ("kernel", "bias", "gamma")}
    assert len(seeds) == 3 * len(names)


def test_random_weights_use_each_layers_own_initializer_and_distinct_streams(model):
    values = {
        layer.name: random_weights(layer, 7)[0] for block in randomization_blocks(model) for layer in block
    }
    plain = values["plain_conv"]
    assert 2.5 < plain["kernel"].std() < 3.5  # RandomNormal(stddev=3)
    np.testing.assert_array_equal(plain["bias"], 0.25)  # Constant: stays constant
    np.testing.assert_array_equal(values["conv1_conv"]["bias"], 0.0)  # zeros stays zero
    bn = values["conv1_bn"]
    for name, expected in (("gamma", 1), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)):
        np.testing.assert_array_equal(bn[name], expected)
    # No two layers receive the same random values, even with identical shape and initializer
    a, b = values["conv2_block1_1_conv"]["kernel"], values["conv2_block1_2_conv"]["kernel"]
    assert a.shape == b.shape and not np.any(a == b)
    kernels = [v["kernel"].ravel() for v in values.values() if "kernel" in v]
    for i in range(len(kernels)):
        for j in range(i + 1, len(kernels)):
            k = min(len(kernels[i]), len(kernels[j]))
            assert not np.array_equal(kernels[i][:k], kernels[j][:k])
    # Same seed, same values
    again = random_weights(randomization_blocks(model)[2][0], 7)[0]
    np.testing.assert_array_equal(again["kernel"], a)


@pytest.mark.parametrize("mode", MODES)
def test_steps_randomize_cumulatively_or_independently(model, images, mode):
    trained = _weights(model)
    blocks = randomization_blocks(model)
    expected_random = {layer.name: random_weights(layer, 3)[0] for block in blocks for layer in block}
    seen = []

    def record(step, name, clone):
        seen.append(name)
        for j, block in enumerate(blocks):
            randomized = j <= step if mode == "cascading" else j == step
            for layer in block:
                for v in clone.get_layer(layer.name).weights:
                    want = expected_random[layer.name][v.name] if randomized else trained[v.path]
                    np.testing.assert_array_equal(v.numpy(), want, err_msg=f"{mode} step {step} {v.path}")

    result = mprt(model, images, method="gradient", mode=mode, seed=3, variant="function", callback=record)
    assert seen == result.blocks == ["predictions", "plain_conv", "conv2_block1", "conv1"]
    assert result.layers[2] == ["conv2_block1_1_conv", "conv2_block1_1_bn", "conv2_block1_2_conv"]
    assert result.similarity.shape == (4, len(SIMILARITIES), 3)
    assert result.maps.shape == (5, 3, SIZE, SIZE)
    assert result.skipped == []
    # The trained model is bit-identical afterwards
    after = _weights(model)
    assert after.keys() == trained.keys()
    assert all(after[k].tobytes() == trained[k].tobytes() for k in trained)


@pytest.mark.parametrize("variant", ["function", "xla"])
def test_one_trace_for_all_steps(model, images, variant):
    result = mprt(
        model, images, method="gradient", seed=0, variant=variant, batch_size=2, measures=("spearman_abs",)
    )
    assert result.traces == 1


def test_a_reused_clone_gives_the_numbers_of_a_fresh_one_and_traces_once(model, images):
    """A check's chunks share one clone: each run starts from the trained values again, so
    a chunk's similarities do not depend on the chunks before it."""
    kw = dict(method="gradient", seed=4, variant="function", batch_size=2, keep_maps=True)
    shared = RandomizationClone(model, variant="function", score="logit", batch_size=2)
    trained = _weights(model)
    for mode in ("cascading", "independent", "cascading"):
        for chunk in (images[:2], images[1:]):
            reused = mprt(model, chunk, mode=mode, clone=shared, **kw)
            fresh = mprt(model, chunk, mode=mode, **kw)
            assert reused.similarity.tobytes() == fresh.similarity.tobytes()
            assert reused.maps.tobytes() == fresh.maps.tobytes()
    assert reused.traces == 0 and fresh.traces == 1  # the shared one traced for this shape before
    after = _weights(model)
    assert all(after[k].tobytes() == trained[k].tobytes() for k in trained)


def test_a_clone_of_another_model_or_other_settings_is_refused(model, images):
    other = RandomizationClone(_tiny_cnn(), variant="function", batch_size=2)
    with pytest.raises(ValueError, match="another model"):
        mprt(model, images, method="gradient", seed=0, variant="function", batch_size=2, clone=other)
    mine = RandomizationClone(model, variant="function", batch_size=2)
    with pytest.raises(ValueError, match="variant='xla' \\(clone: 'function'\\)"):
        mprt(model, images, method="gradient", seed=0, variant="xla", batch_size=2, clone=mine)


def test_bottom_up_order_and_the_fully_randomized_model_in_one_step(model, images):
    blocks = randomization_blocks(model)
    randomized = {layer.name: random_weights(layer, 3)[0] for block in blocks for layer in block}
    seen = []
    bottom_up = mprt(
        model,
        images,
        method="gradient",
        seed=3,
        variant="function",
        order="bottom_up",
        callback=lambda step, name, clone: seen.append(name),
    )
    assert seen == bottom_up.blocks == ["conv1", "conv2_block1", "plain_conv", "predictions"]
    assert bottom_up.order == "bottom_up"

    def every_layer_randomized(step, name, clone):
        seen.append(name)
        for layer in (layer for block in blocks for layer in block):
            for v in clone.get_layer(layer.name).weights:
                np.testing.assert_array_equal(v.numpy(), randomized[layer.name][v.name])

    seen.clear()
    final = mprt(
        model,
        images,
        method="gradient",
        seed=3,
        variant="function",
        final_only=True,
        callback=every_layer_randomized,
    )
    assert seen == final.blocks == [ALL_LAYERS] and final.similarity.shape == (1, len(SIMILARITIES), 3)
    assert sorted(final.layers[0]) == sorted(layer.name for block in blocks for layer in block)
    # Each variable's values depend on the seed and its name only: the last step of
    # either order is the same model, so the same maps and scores.
    top_down = mprt(model, images, method="gradient", seed=3, variant="function")
    for run in (bottom_up, top_down):
        np.testing.assert_array_equal(run.similarity[-1], final.similarity[0])
        np.testing.assert_array_equal(run.maps[-1], final.maps[-1])


def test_explain_fn_replaces_how_each_model_state_is_explained(model, images):
    calls = []

    def edges(explainer, targets):  # a model-independent map through the hook
        calls.append(None if targets is None else targets.tolist())
        return explainer.explain(images, targets=targets, method="edge", seed=0)

    result = mprt(model, images, method="gradient", seed=0, variant="function", explain_fn=edges)
    assert calls[0] is None and calls[1:] == [result.targets.tolist()] * 4
    assert np.all(result.similarity == 1.0)


def test_same_seed_same_scores_other_seed_other_scores(model, images):
    run = lambda seed: mprt(model, images, method="gradient", seed=seed, variant="function", keep_maps=False)  # noqa: E731
    a, b, c = run(11), run(11), run(12)
    np.testing.assert_array_equal(a.similarity, b.similarity)
    assert not np.array_equal(a.similarity, c.similarity)
    assert a.maps is None


def test_gradient_similarity_drops(model, images):
    result = mprt(model, images, method="gradient", seed=0, variant="function")
    assert np.all(np.abs(result.similarity) <= 1.0)
    assert result.curve("spearman_abs")[-1] < 0.9
    assert np.all(result.similarity < 1.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["edge", "random"])
def test_controls_score_exactly_one_at_every_step(model, images, method, mode):
    result = mprt(model, images, mode=mode, method=method, seed=5, variant="function")
    assert result.similarity.shape == (4, len(SIMILARITIES), 3)
    assert np.all(result.similarity == 1.0)


@pytest.mark.parametrize("method", ["edge", "random"])
def test_controls_score_exactly_one_in_random_logit(model, images, method):
    result = random_logit(model, images, seed=5, method=method, variant="function")
    assert np.all(result.similarity == 1.0)


def test_random_logit_draws_a_seeded_other_class(model, images):
    a = random_logit(model, images, method="gradient", seed=1, variant="function")
    b = random_logit(model, images, method="gradient", seed=1, variant="function")
    assert np.all(a.others != a.targets) and np.all((a.others >= 0) & (a.others < 5))
    np.testing.assert_array_equal(a.others, b.others)
    np.testing.assert_array_equal(a.similarity, b.similarity)
    assert a.similarity.shape == (len(SIMILARITIES), 3) and np.all(a.similarity < 1.0)
    many = np.concatenate(
        [
            random_logit(
                model, images, method="gradient", seed=s, variant="eager", measures=("spearman",)
            ).others
            for s in range(8)
        ]
    )
    assert len(np.unique(many)) >= 3  # really drawn, not a fixed "next class"


def test_softmax_model_is_cloned_with_its_logit_head(images):
    model = _tiny_cnn(softmax=True)
    trained = _weights(model)
    result = mprt(model, images, method="gradient", seed=0, variant="function", measures=("spearman",))
    assert result.blocks[0] == "predictions" and np.all(result.similarity[0] < 1.0)
    assert all(v.numpy().tobytes() == trained[v.path].tobytes() for v in model.weights)


def test_bad_arguments(model, images):
    with pytest.raises(ValueError, match="mode"):
        mprt(model, images, method="gradient", seed=0, mode="top_down")
    with pytest.raises(ValueError, match="measure"):
        mprt(model, images, method="gradient", seed=0, measures=("pearson",))
    with pytest.raises(ValueError, match="unknown order 'up'"):
        mprt(model, images, method="gradient", seed=0, order="up")


def test_an_error_mid_run_propagates_and_leaves_no_scoring_thread(model, images):
    import threading

    before = {t.ident for t in threading.enumerate()}

    def fail_at_step_two(step, name, clone):
        if step == 2:
            raise KeyboardInterrupt("stop")

    with pytest.raises(KeyboardInterrupt, match="stop"):
        mprt(model, images, method="gradient", seed=0, variant="function", callback=fail_at_step_two)
    assert {t.ident for t in threading.enumerate()} <= before
