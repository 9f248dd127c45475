"""A small stored run, written through the store API as the harness and checks would.

All numbers are synthetic and deterministic; images are tiny (32x32). One image
name carries HTML to check that the report escapes what users name.
"""

from __future__ import annotations

import numpy as np
import pytest

from saliency_core.store import ResultStore

INJECTED = "<img src=x onerror=alert(1)>.png"
SUITE = "smoke & <i>quick</i>"
MODELS = ("resnet50", "mobilenet_v2", "efficientnet-lite0")
VARIANTS = ("eager", "function", "xla")
BATCHES = (1, 8)
ROOF = 200e9  # FLOP/s of the fake run's matmul roof
FAILED = {"model": "efficientnet-lite0", "variant": "xla", "batch_size": 8}
FAIL_REASON = "ResourceExhaustedError: OOM when allocating tensor of shape [8,112,112,32]"
MAP_METHODS = ("gradient", "gradient_x_input")
MAP_IMAGES = ("cat.png", INJECTED)
LAYERS = ("predictions", "conv5_block3_out", "conv4_block6_out", "conv3_block4_out")
MEASURES = ("spearman_abs", "ssim")
SIZE = 32

#: Figures the full run gives: throughput, compile/memory, one map grid per method,
#: one curves figure (one model, one data set), randomisation similarity + step maps.
EXPECTED_FIGURES = 2 + len(MAP_METHODS) + 1 + 2
SECTION_IDS = (
    "summary",
    "timing",
    "throughput",
    "compile-memory",
    "backbones",
    "maps",
    "curves",
    "checks",
    "randomization",
    "gate",
    "reproducibility",
)

METADATA = {
    "machine_info": {
        "node": "test-box",
        "machine": "x86_64",
        "python_version": "3.11.2",
        "tensorflow": "2.21.0",
        "keras": "3.15.0",
        "numpy": "2.1.0",
        "saliency_bench": "0.1.0",
        "cpu_model": "Test CPU @ 2.0GHz",
        "cpu_count": 2,
        "cpu_usable": 2,
        "gpus": [],
        "gpu_driver": None,
        "gpu_detection": "skipped",
        "xla_flags": None,
        "tf_xla_flags": None,
        "keras_backend": "tensorflow",
    },
    "commit_info": {
        "id": "0123456789abcdef0123456789abcdef01234567",
        "dirty": False,
        "branch": "main",
        "project": "saliency-bench",
        "time": None,
        "author_time": None,
    },
}
CONFIG = {
    "suite_file": "bench/suites/quick.toml",
    "device": "cpu",
    "repeats": 5,
    "flags": {"jit_compile": True},
}


def _timing_cells(store, run_id) -> None:
    base = {"resnet50": 40.0, "mobilenet_v2": 120.0, "efficientnet-lite0": 90.0}
    speed = {"eager": 1.0, "function": 1.6, "xla": 2.4}
    for model in MODELS:
        for variant in VARIANTS:
            for batch in BATCHES:
                key = {
                    "model": model,
                    "variant": variant,
                    "batch_size": batch,
                    "device": "cpu",
                    "image_size": 224,
                }
                if {k: key[k] for k in FAILED} == FAILED:
                    store.record_cell(run_id, "timing", key, status="failed", reason=FAIL_REASON)
                    continue
                ips = base[model] * speed[variant] * (1.0 + 0.5 * (batch > 1))
                cell_roof = ROOF if batch > 1 else 0.75 * ROOF
                median = batch / ips
                times = [median * f for f in (0.97, 0.99, 1.0, 1.02, 1.05)]
                store.record_cell(
                    run_id,
                    "timing",
                    key,
                    metrics={
                        "times": times,
                        "median_s": median,
                        "iqr_s": 0.03 * median,
                        "min_s": min(times),
                        "images_per_s": ips,
                        "compile_s": {"eager": 0.0, "function": 1.2, "xla": 4.5}[variant],
                        "first_call_s": 0.5 + median,
                        "peak_rss_mb": 900.0 + 40 * batch,
                        "peak_device_mb": None,
                        "retraces": 0,
                        "flops_per_image": 4.1e9 if model == "resnet50" else 0.6e9,
                        # batch-1 cells saw a lower roof (as under load); displays use the best
                        "roof_fraction": (4.1e9 if model == "resnet50" else 0.6e9) * ips / cell_roof,
                        "roof_gflops": cell_roof / 1e9,
                        "forward_median_s": None,
                    },
                )


def _maps_cells(store, run_id) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for i, name in enumerate(MAP_IMAGES):
        image = (rng.random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
        blob = np.exp(-((xx - 0.3 - 0.3 * i) ** 2 + (yy - 0.5) ** 2) / 0.02)
        for method in MAP_METHODS:
            signed = method == "gradient_x_input"
            saliency = blob * (np.sin(8 * xx) if signed else 1.0) + 0.05 * rng.random((SIZE, SIZE))
            store.record_cell(
                run_id,
                "maps",
                {"model": "resnet50", "method": method, "image": name},
                metrics={
                    "target": 281 + i,
                    "class_name": "tabby <cat>",
                    "probability": 0.81,
                    "variant": "xla",
                    "score": "logit",
                    "reduce": "sum" if signed else "max_abs",
                },
                artifacts={"image": image, "map": saliency.astype(np.float32)},
            )


def _check_cells(store, run_id) -> None:
    fractions = np.linspace(0.0, 1.0, 11)
    config = {"steps": 10, "baseline": "blur", "order": "most_relevant_first"}
    for metric, direction in (("deletion", "lower"), ("insertion", "higher")):
        for method, sharp in (("gradient", 6.0), ("random", 1.0)):
            fall = np.exp(-sharp * fractions)
            curve = fall if metric == "deletion" else 1.0 - fall
            curves = np.stack([curve, 0.9 * curve])
            auc = float(np.mean(curves.mean(axis=1)))
            store.record_cell(
                run_id,
                "check",
                {"model": "resnet50", "data": "bundled", "method": method, "metric": metric},
                metrics={
                    "value": auc,
                    "direction": direction,
                    "per_image": curves.mean(axis=1).tolist(),
                    "config": config,
                },
                artifacts={"fractions": fractions, "curves": curves},
            )
    steps = np.arange(len(LAYERS))
    similarity = np.stack([0.8 * 0.5**steps, 0.6 * 0.6**steps], axis=1)
    rng = np.random.default_rng(1)
    step_maps = np.stack([np.abs(rng.normal(size=(SIZE, SIZE))) * (k + 1) for k in range(len(LAYERS) + 1)])
    store.record_cell(
        run_id,
        "check",
        {"model": "resnet50", "data": "bundled", "method": "gradient", "metric": "mprt-cascading"},
        metrics={
            "value": float(similarity[-1, 0]),
            "direction": "lower",
            "per_image": [0.1, 0.12],
            "config": {"order": "top_down", "seed": 0},
            "layers": list(LAYERS),
            "measures": list(MEASURES),
        },
        artifacts={"similarity": similarity, "step_maps": step_maps.astype(np.float32)},
    )


def _gate_cell(store, run_id) -> None:
    rules = [
        {
            "rule": "deletion beats random",
            "method": "gradient",
            "metric": "deletion",
            "value": 0.25,
            "op": "<",
            "threshold": 0.6,
            "passed": True,
            "why": "",
        },
        {
            "rule": "randomisation changes the map",
            "method": "gradient",
            "metric": "mprt-cascading",
            "value": 0.1,
            "op": "<",
            "threshold": 0.05,
            "passed": False,
            "why": "final similarity 0.10 is not below 0.05",
        },
    ]
    store.record_cell(
        run_id,
        "gate",
        {"model": "resnet50", "data": "bundled", "policy": "default"},
        metrics={"passed": False, "rules": rules},
    )


def build_run(path, *, timing=True, maps=True, checks=True, gate=True, config=None):
    """Write a run with the chosen kinds of cells to a store at ``path``; return
    ``(store, run_id)``. ``config`` entries are added to the run's config."""
    store = ResultStore(path)
    run_id = store.start_run(suite=SUITE, config={**CONFIG, **(config or {})}, seed=0, metadata=METADATA)
    if timing:
        _timing_cells(store, run_id)
    if maps:
        _maps_cells(store, run_id)
    if checks:
        _check_cells(store, run_id)
    if gate:
        _gate_cell(store, run_id)
    store.finish_run(run_id, status="complete")
    return store, run_id


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    """``(store, run_id)`` of the full small run, shared by a test module (read only)."""
    store, run_id = build_run(tmp_path_factory.mktemp("store") / "results.sqlite")
    yield store, run_id
    store.close()


@pytest.fixture
def empty_run(tmp_path):
    """``(store, run_id)`` of a finished run without cells, in a store under ``tmp_path``."""
    store, run_id = build_run(tmp_path / "results.sqlite", timing=False, maps=False, checks=False, gate=False)
    yield store, run_id
    store.close()
