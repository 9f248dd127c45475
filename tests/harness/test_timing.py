"""time_cell on a tiny conv net: metric fields and their relations, first call kept
apart, retraces during timed calls detected, peak memory recorded."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from saliency_core import as_classifier, build_gradient_fn
from saliency_core.gradients import GradientFunction
from saliency_core.harness.call_timing import RetraceWarning, TimingConfig, time_calls
from saliency_core.harness.saliency_call import random_inputs
from saliency_core.harness.timing import time_cell

FAST = TimingConfig(min_repeats=3, max_repeats=6, budget_s=0.0, warmup=1)
CONVENTION = {
    "times",
    "median_s",
    "iqr_s",
    "min_s",
    "images_per_s",
    "compile_s",
    "first_call_s",
    "peak_rss_mb",
    "peak_device_mb",
    "retraces",
    "flops_per_image",
    "roof_fraction",
    "roof_gflops",
    "forward_median_s",
}


@pytest.fixture(scope="module")
def tiny():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return as_classifier(keras.Model(inputs, keras.layers.Dense(5)(x)), name="tiny")


@pytest.mark.parametrize("variant", ["eager", "function"])
def test_metrics_follow_the_convention(tiny, variant):
    m = time_cell(
        tiny,
        variant=variant,
        batch_size=4,
        device="cpu",
        config=FAST,
        seed=0,
        flops_per_image=1e6,
        roof_gflops=100.0,
    )
    assert CONVENTION <= set(m)
    assert FAST.min_repeats <= len(m["times"]) <= FAST.max_repeats
    assert m["min_s"] <= m["median_s"] <= max(m["times"])
    assert m["median_s"] == pytest.approx(float(np.median(m["times"])))
    assert m["images_per_s"] == pytest.approx(4 / m["median_s"])
    assert m["iqr_s"] >= 0
    # the first call is timed apart from the repeated ones
    assert m["first_call_s"] > 0 and m["compile_s"] == pytest.approx(
        max(m["first_call_s"] - m["median_s"], 0.0)
    )
    assert m["retraces"] == 0
    assert m["roof_fraction"] == pytest.approx(1e6 * m["images_per_s"] / 100e9)
    assert m["forward_median_s"] > 0 and m["saliency_forward_ratio"] > 0
    assert m["peak_rss_mb"] > 0 and m["peak_device_mb"] is None  # CPU: no device peak
    assert m["chunk_size"] == 4
    assert m["process_cpu_per_wall"] > 0
    # traced once at the first call (function) or never (eager)
    assert m["traces_first_call"] == (1 if variant == "function" else 0)


def test_budget_and_minimum_count_both_met():
    calls = []
    clock_t = [0.0]

    def clock():
        return clock_t[0]

    def call():  # each call "takes" 0.25 s on the fake clock
        calls.append(1)
        clock_t[0] += 0.25

    out = time_calls(
        call, None, TimingConfig(min_repeats=2, max_repeats=100, budget_s=2.0, warmup=1), clock=clock
    )
    assert len(out["times"]) == 8  # 8 x 0.25 s = the 2 s budget (more than min_repeats)
    assert len(calls) == 1 + 1 + 8  # first call + warm-up + timed
    out = time_calls(call, None, TimingConfig(min_repeats=5, max_repeats=100, budget_s=0.1), clock=clock)
    assert len(out["times"]) == 5  # the minimum count, though the budget was met sooner
    out = time_calls(call, None, TimingConfig(min_repeats=1, max_repeats=3, budget_s=100.0), clock=clock)
    assert len(out["times"]) == 3  # max_repeats caps the budget


def test_retrace_during_timed_calls_is_detected(tiny):
    real = build_gradient_fn(tiny, variant="eager")
    calls = {"n": 0}

    def retracing(images, targets):
        calls["n"] += 1
        if calls["n"] > 2:  # first call and warm-up are clean; every timed call "retraces"
            fake.traces += 1
        return real(images, targets)

    fake = GradientFunction("function", "logit", retracing, tiny.input_shape, tiny.dtype)
    with pytest.warns(RetraceWarning, match="traced 3 time"):
        m = time_cell(
            tiny,
            variant="function",
            batch_size=2,
            device="cpu",
            seed=0,
            config=TimingConfig(min_repeats=3, max_repeats=3, budget_s=0.0, warmup=1),
            gradient_fn=fake,
            forward=False,
        )
    assert m["retraces"] == 3
    assert m["forward_median_s"] is None


def test_real_retrace_of_a_tf_function_is_detected(tiny):
    """A tf.function without an input signature retraces when the shape changes: here the
    timed calls alternate batch sizes, as a caller that forgot padding would."""
    import tensorflow as tf

    fn = GradientFunction("function", "logit", None, tiny.input_shape, tiny.dtype)

    @tf.function(reduce_retracing=False)
    def body(x):
        fn.traces += 1
        return tiny.logits(x)

    fn.fn = body
    sizes = iter([1, 1, 2, 3, 4, 5, 6])
    out = time_calls(
        lambda: fn(tf.zeros((next(sizes), 16, 16, 3))).numpy(),
        fn,
        TimingConfig(min_repeats=4, max_repeats=4, budget_s=0.0, warmup=1),
    )
    assert out["traces_first_call"] == 1
    assert out["retraces"] == 4


def test_chunked_batch_pads_the_last_chunk(tiny):
    m = time_cell(
        tiny, variant="function", batch_size=5, device="cpu", config=FAST, seed=0, chunk_size=2, forward=False
    )
    assert m["chunk_size"] == 2 and m["images_per_s"] == pytest.approx(5 / m["median_s"])


def test_inputs_are_seeded_raw_images():
    a = random_inputs((4, 4, 3), 2, "float32", seed=3)
    assert a.shape == (2, 4, 4, 3) and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 255
    np.testing.assert_array_equal(a, random_inputs((4, 4, 3), 2, "float32", seed=3))
    assert not np.array_equal(a, random_inputs((4, 4, 3), 2, "float32", seed=4))


def test_unavailable_gpu_is_an_error(tiny):
    import tensorflow as tf

    from saliency_core.devices import DeviceUnavailableError

    if tf.config.list_logical_devices("GPU"):
        pytest.skip("a GPU is present")
    with pytest.raises(DeviceUnavailableError, match="GPU"):
        time_cell(tiny, variant="eager", batch_size=1, device="gpu", config=FAST)


def test_config_is_validated():
    with pytest.raises(ValueError, match="max_repeats"):
        TimingConfig(min_repeats=5, max_repeats=2)
    with pytest.raises(ValueError, match="budget_s"):
        TimingConfig(budget_s=-1)
