"""Benchmark: the RISE deletion curve on ResNet50, batched vs. naive vs. the forward floor.

Protocol: ``PRESETS["rise-deletion"]`` (224 px per step at 224 x 224, 225 points),
8 images, ResNet50 with random weights (``weights=None``, no softmax; timing does not
depend on the weight values, which are left unseeded so the global RNG is not
touched) wrapped as a raw-RGB :class:`Classifier` with Caffe preprocessing.

Measured side by side in one process:

* **forward**: the classifier's forward pass alone, per variant ("function" = TF
  graph, "xla") and batch size; images/s from the median of a few timed calls after
  a warm-up (compilation excluded).
* **floor**: ``225 * 8 / best forward images/s`` (best = highest median-call
  throughput over variants and batch sizes; also shown from the fastest single call,
  the less load-sensitive estimate on a shared machine), the time the curve's
  forward passes alone need.
* **batched**: :func:`deletion_curve` with the best (variant, batch) forward and
  ``chunk_size`` = that batch; one round, including the small perturbation
  function's compilation and the clean-image pass.
* **naive**: the model called once per step per image, the perturbation built in
  numpy per step (RISE's reference loop). Run on a subset of steps for every image
  and **extrapolated** linearly to 225 x 8 calls; two flavours: the same compiled
  forward at batch 1, and a plain eager Keras call.

Run (takes minutes on a CPU)::

    .venv/bin/pytest bench/bench_deletion.py -s -p no:cacheprovider
    .venv/bin/python bench/bench_deletion.py            # the same

Environment knobs: ``BENCH_NAIVE_STEPS`` (steps per image timed in the naive loops,
default 6), ``BENCH_FORWARD_BATCHES`` (default "1,8,32"), ``BENCH_VARIANTS`` (default
"function,xla"), ``BENCH_POINTS`` (curve points; default all 225; fewer runs the
batched curve on the first points only and extrapolates, which the table says).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

N_IMAGES = 8
SEED = 0


def _env_list(name, default):
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


@pytest.fixture(scope="module")
def bench():
    """Model, data and a dict collecting the measurements of this module."""
    import keras

    from saliency_core import Classifier, build_forward_fn, get_preprocessing
    from saliency_core.checks.perturbation import PRESETS

    model = keras.applications.ResNet50(weights=None, classifier_activation=None)
    clf = Classifier(
        "resnet50-random", model, preprocessing=get_preprocessing("caffe"), weights="random", raw_input=True
    )
    rng = np.random.default_rng(SEED)
    images = rng.uniform(0, 255, size=(N_IMAGES, 224, 224, 3)).astype("float32")
    maps = rng.random((N_IMAGES, 224, 224))
    config = PRESETS["rise-deletion"]
    forwards = {v: build_forward_fn(clf, variant=v) for v in _env_list("BENCH_VARIANTS", "function,xla")}
    return dict(
        clf=clf,
        images=images,
        maps=maps,
        config=config,
        forwards=forwards,
        points=len(config.fractions_for(224, 224)),
        forward={},
        rows=[],
    )


def _time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


# -- forward throughput ---------------------------------------------------------------------------
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("batch", [int(b) for b in _env_list("BENCH_FORWARD_BATCHES", "1,8,32")])
@pytest.mark.parametrize("variant", _env_list("BENCH_VARIANTS", "function,xla"))
def test_forward_throughput(benchmark, bench, variant, batch):
    import tensorflow as tf

    forward = bench["forwards"][variant]
    x = tf.constant(np.resize(bench["images"], (batch, 224, 224, 3)))
    start = time.perf_counter()
    np.asarray(forward(x))  # trace + compile for this shape
    compile_s = time.perf_counter() - start
    rounds = max(2, 64 // batch)
    benchmark.pedantic(lambda: np.asarray(forward(x)), rounds=rounds, warmup_rounds=1, iterations=1)
    median, fastest = benchmark.stats.stats.median, benchmark.stats.stats.min
    bench["forward"][(variant, batch)] = (batch / median, batch / fastest)
    benchmark.extra_info.update(
        variant=variant,
        batch=batch,
        images_per_s=batch / median,
        images_per_s_fastest_call=batch / fastest,
        first_call_s=compile_s,
    )
    bench["rows"].append(
        (
            f"forward {variant} batch {batch} (median call)",
            median,
            f"{batch / median:.2f} img/s (fastest call {batch / fastest:.2f})",
        )
    )


# -- the batched curve ----------------------------------------------------------------------------
@pytest.mark.timeout(7200)
def test_deletion_batched(benchmark, bench):
    from saliency_core.checks.curves import deletion_curve

    assert bench["forward"], "run with the forward-throughput benchmarks first"
    (variant, batch), (best, fastest) = max(bench["forward"].items(), key=lambda kv: kv[1][0])
    points = int(os.environ.get("BENCH_POINTS", bench["points"]))
    config = replace(bench["config"], chunk_size=batch)
    if points < bench["points"]:  # a prefix of the curve: same step, fewer points
        config = replace(config, fractions=tuple(bench["config"].fractions_for(224, 224)[:points]))
    forward = bench["forwards"][variant]
    result = benchmark.pedantic(
        deletion_curve,
        args=(bench["clf"], bench["images"], bench["maps"]),
        kwargs=dict(config=config, forward=forward),
        rounds=1,
        iterations=1,
    )
    seconds = benchmark.stats.stats.median * bench["points"] / points  # extrapolated if a prefix
    floor = bench["points"] * N_IMAGES / best
    floor_fastest = bench["points"] * N_IMAGES / fastest  # the same, from the fastest timed call
    bench.update(
        batched_s=seconds, floor_s=floor, best=(variant, batch, best), result=result, batched_points=points
    )
    benchmark.extra_info.update(
        variant=variant,
        chunk_size=batch,
        points=points,
        seconds_225=seconds,
        floor_s=floor,
        ratio_to_floor=seconds / floor,
        floor_fastest_call_s=floor_fastest,
        ratio_to_floor_fastest_call=seconds / floor_fastest,
        forward_images_per_s=best,
        counters=result.counters,
    )
    note = "" if points == bench["points"] else f" (ran {points} points, extrapolated)"
    total = bench["points"] * N_IMAGES
    bench["rows"].append(
        (f"floor: {total} / {best:.2f} img/s ({variant}, b{batch}, median call)", floor, "1.00x floor")
    )
    bench["rows"].append(
        (
            f"floor: {total} / {fastest:.2f} img/s (same, fastest call)",
            floor_fastest,
            f"{floor_fastest / floor:.2f}x floor",
        )
    )
    bench["rows"].append(
        (
            f"deletion_curve, {variant} forward, chunk {batch}{note}",
            seconds,
            f"{seconds / floor:.2f}x floor ({seconds / floor_fastest:.2f}x fastest-call floor)",
        )
    )
    assert result.counters["perturb_traces"] == 1 and result.counters["forward_new_traces"] <= 1


# -- the naive loop -------------------------------------------------------------------------------
def _naive(bench, call, steps_per_image):
    """Model called once per step per image; perturbation in numpy. Returns scores, calls."""
    from saliency_core.checks.curve_scoring import pixel_ranks
    from saliency_core.checks.perturbation import zero_normalized_value

    clf, images, config = bench["clf"], bench["images"], bench["config"]
    counts = config.removed_counts(224, 224)
    steps = np.linspace(0, len(counts) - 1, steps_per_image).round().astype(int)
    r0 = zero_normalized_value(clf).astype(np.float32)
    order = np.argsort(-bench["maps"].reshape(N_IMAGES, -1), axis=1, kind="stable")
    target = bench["result"].targets if "result" in bench else np.zeros(N_IMAGES, int)
    scores = np.empty((N_IMAGES, len(steps)))
    for i in range(N_IMAGES):
        for j, s in enumerate(steps):
            x = images[i].reshape(-1, 3).copy()
            x[order[i, : counts[s]]] = r0
            logits = np.asarray(call(x.reshape(1, 224, 224, 3)), np.float64)[0]
            p = np.exp(logits - logits.max())
            scores[i, j] = p[target[i]] / p.sum()
    assert (pixel_ranks(bench["maps"][:1])[0][order[0]] == np.arange(224 * 224)).all()
    return scores, steps


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("kind", ["compiled-batch1", "eager-keras"])
def test_deletion_naive(benchmark, bench, kind):
    import tensorflow as tf

    assert "batched_s" in bench, "run test_deletion_batched first"
    steps_per_image = int(os.environ.get("BENCH_NAIVE_STEPS", 6))
    if kind == "compiled-batch1":
        forward = bench["forwards"][bench["best"][0]]
        call = lambda x: forward(tf.constant(x))  # noqa: E731
    else:
        model = bench["clf"]
        call = lambda x: model.logits(tf.constant(x))  # noqa: E731
    call(bench["images"][:1])  # warm-up: trace / compile batch 1
    scores, steps = benchmark.pedantic(_naive, args=(bench, call, steps_per_image), rounds=1, iterations=1)
    calls = N_IMAGES * steps_per_image
    per_call = benchmark.stats.stats.median / calls
    seconds = per_call * bench["points"] * N_IMAGES
    if bench.get("batched_points") == bench["points"]:  # same numbers as the batched curve
        diff = np.abs(scores - bench["result"].curves[:, steps]).max()
    else:
        diff = float("nan")
    benchmark.extra_info.update(
        kind=kind,
        timed_calls=calls,
        per_call_s=per_call,
        extrapolated_s=seconds,
        speedup_of_batched=seconds / bench["batched_s"],
        max_abs_diff_vs_batched=float(diff),
    )
    bench["rows"].append(
        (
            f"naive {kind} ({calls} calls timed, extrapolated to {bench['points'] * N_IMAGES})",
            seconds,
            f"batched is {seconds / bench['batched_s']:.2f}x faster",
        )
    )
    assert not diff > 1e-3, f"naive loop and batched curve disagree by {diff}"


def test_print_table(bench):
    """Print the measurements (seconds for the whole 225-point x 8-image curve)."""
    import platform

    cpu = platform.processor() or platform.machine()
    lines = [
        f"\nRISE deletion, ResNet50 (random weights), {N_IMAGES} images, "
        f"{bench['points']} points; {os.cpu_count()} CPU(s), {cpu}",
        f"{'measurement':<72}{'seconds':>10}  note",
    ]
    lines += [f"{name:<72}{sec:>10.2f}  {note}" for name, sec, note in bench["rows"]]
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-s", "-p", "no:cacheprovider", *sys.argv[1:]]))
