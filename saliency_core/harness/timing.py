"""Time one cell: a model's saliency function at one variant, batch size and device.

Method (what :func:`time_cell` does, in order):

1. Build seeded random raw images in [0, 255] (``np.random.default_rng(seed)``) and
   top-1 targets (``-1``); copy them to the device once, outside the clock.
2. Time the **first call** alone: for ``function``/``xla`` it traces the Python body
   and compiles (XLA compiles once per input shape), so it is reported separately
   as ``first_call_s`` and ``compile_s = max(first_call_s - median_s, 0)`` (the
   first call's extra cost over a steady-state call; for ``eager`` it is one-off
   kernel and oneDNN primitive set-up).
3. Run ``warmup`` untimed calls.
4. Time repeated calls until **both** ``min_repeats`` calls and ``budget_s`` seconds
   of timed calls are reached, or ``max_repeats`` calls are made. A call ends when
   its gradients are fetched to host memory (``.numpy()``), which waits for the
   device: GPU work is asynchronous and a clock read before that would time only
   the launch.
5. Compare ``GradientFunction.traces`` before and after the timed loop: any trace
   there is a **retrace** (recorded in ``retraces`` and warned about with
   :class:`RetraceWarning`), which makes the times include tracing/compiling.
6. Read peak memory: host RSS peak during the cell (Linux ``VmHWM`` is reset at the
   cell's start through ``/proc/self/clear_refs``; where that is not permitted the
   process-lifetime peak ``ru_maxrss`` is reported and ``peak_rss_scope`` says
   ``"process"``), and on a GPU the device allocator's peak
   (``tf.config.experimental.get_memory_info``, reset with ``reset_memory_stats``).
7. Time the forward pass (``build_forward_fn``, same variant and batch) the same
   way, for the saliency/forward time ratio (the FLOP ratio is about 2.0).
8. For a low ``precision`` (bfloat16, float16), after the clock: compute the same
   images' maps once more at that precision and once in float32, and record how far
   apart they are (``fidelity``, :func:`saliency_core.fidelity.precision_fidelity`).
   Nothing falls back: a precision the device runs slowly is timed as it runs.

Large batches may be computed as several calls of ``chunk_size`` images (the last
chunk padded to keep one compiled shape); a timed call then covers the whole batch.

The metrics dict follows the ``timing`` cell convention in ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import resource
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..devices import DeviceUnavailableError, check_device, device_scope, resolve_device
from .flops import roof_fraction

__all__ = [
    "TimingConfig",
    "RetraceWarning",
    "DeviceUnavailableError",
    "time_cell",
    "time_calls",
    "prepare_saliency_call",
    "random_inputs",
    "MemoryProbe",
]

_MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class TimingConfig:
    """How long to time a cell.

    Attributes:
        min_repeats: Fewest timed calls.
        max_repeats: Most timed calls (stops the loop even when the budget is not spent).
        budget_s: Least total seconds of timed calls; the loop runs until both this
            and ``min_repeats`` are reached (or ``max_repeats`` calls are made).
        warmup: Untimed calls after the first call, before the timed ones.
    """

    min_repeats: int = 5
    max_repeats: int = 50
    budget_s: float = 2.0
    warmup: int = 1

    def __post_init__(self):
        if self.min_repeats < 1:
            raise ValueError(f"min_repeats must be >= 1, got {self.min_repeats}")
        if self.max_repeats < self.min_repeats:
            raise ValueError(f"max_repeats ({self.max_repeats}) must be >= min_repeats ({self.min_repeats})")
        if self.budget_s < 0:
            raise ValueError(f"budget_s must be >= 0, got {self.budget_s}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")

    def to_dict(self) -> dict:
        return asdict(self)


class RetraceWarning(RuntimeWarning):
    """A compiled function traced again during timed calls (its times include tracing)."""


# --- memory --------------------------------------------------------------------------------


def _proc_status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


class MemoryProbe:
    """Peak host RSS and device memory over one measured span.

    ``start()`` resets the peaks where the OS / TensorFlow allow it; ``stop()`` returns
    ``(peak_rss_mb, rss_start_mb, scope, peak_device_mb)`` where ``scope`` is ``"cell"``
    when the RSS peak was reset at ``start()`` and ``"process"`` when it is the
    process-lifetime peak (``ru_maxrss``).
    """

    def __init__(self, device: str | None = None):
        self.device = device  # "/GPU:0" style or None
        self.scope = "process"
        self.rss_start_mb: float | None = None

    def _tf_device(self) -> str | None:
        if self.device and "GPU" in self.device.upper():
            return self.device.lstrip("/").upper()
        return None

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0)
            self.scope = "cell"
        except OSError:
            self.scope = "process"
        rss = _proc_status_kib("VmRSS")
        self.rss_start_mb = None if rss is None else rss / 1024.0
        dev = self._tf_device()
        if dev:
            import tensorflow as tf

            try:
                tf.config.experimental.reset_memory_stats(dev)
            except (ValueError, RuntimeError):
                pass

    def stop(self) -> tuple[float, float | None, str, float | None]:
        hwm = _proc_status_kib("VmHWM") if self.scope == "cell" else None
        if hwm is None:
            self.scope = "process"
            hwm = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
        peak_device = None
        dev = self._tf_device()
        if dev:
            import tensorflow as tf

            try:
                peak_device = tf.config.experimental.get_memory_info(dev)["peak"] / _MIB
            except (ValueError, RuntimeError, KeyError):
                peak_device = None
        return hwm / 1024.0, self.rss_start_mb, self.scope, peak_device


# --- inputs and calls ----------------------------------------------------------------------


def random_inputs(shape: tuple[int, ...], batch_size: int, dtype: str, seed: int) -> np.ndarray:
    """Seeded random raw images, uniform in [0, 255], shape (batch_size, *shape)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, size=(batch_size, *shape)).astype(dtype)


def _chunks(images: np.ndarray, chunk: int) -> list[np.ndarray]:
    """Split into chunks of ``chunk`` images, padding the last with copies of its first."""
    out = []
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk]
        if len(x) < chunk:
            x = np.concatenate([x, np.repeat(x[:1], chunk - len(x), axis=0)])
        out.append(x)
    return out


def time_calls(
    call: Callable[[], object], fn, config: TimingConfig, clock: Callable[[], float] = time.perf_counter
) -> dict:
    """Time ``call`` (which must block until the device is done) by the method above.

    Args:
        call: Runs one full call and returns once its result is on the host.
        fn: The :class:`~saliency_core.gradients.GradientFunction` behind ``call``
            (its ``traces`` counter is read), or None.
        config: Repeats, budget and warm-up.
        clock: Seconds clock.

    Returns:
        ``{"times", "first_call_s", "retraces", "traces_first_call", "cpu_s"}``;
        ``times`` holds seconds per timed call, in call order; ``cpu_s`` is the CPU
        time this process used during the timed calls (all threads).
    """
    traces0 = getattr(fn, "traces", 0)
    t0 = clock()
    call()
    first = clock() - t0
    traces_first = getattr(fn, "traces", 0) - traces0
    for _ in range(config.warmup):
        call()
    before = getattr(fn, "traces", 0)
    times: list[float] = []
    spent = 0.0
    cpu0 = time.process_time()
    while len(times) < config.max_repeats and (len(times) < config.min_repeats or spent < config.budget_s):
        t0 = clock()
        call()
        dt = clock() - t0
        times.append(dt)
        spent += dt
    cpu = time.process_time() - cpu0
    retraces = getattr(fn, "traces", 0) - before
    return {
        "times": times,
        "first_call_s": first,
        "retraces": int(retraces),
        "traces_first_call": int(traces_first),
        "cpu_s": cpu,
    }


def _stats(times: list[float]) -> tuple[float, float, float]:
    """median, IQR (pytest-benchmark's quartiles, as the export computes them), min."""
    from ..store.export import timing_stats

    s = timing_stats(times)
    return float(s["median"]), float(s["iqr"]), float(s["min"])


class _SaliencyCall:
    """One full saliency call on prepared device inputs (see prepare_saliency_call)."""

    def __init__(self, fn, inputs, targets, dev):
        self.fn, self.inputs, self.targets, self.dev = fn, inputs, targets, dev

    def __call__(self):
        with device_scope(self.dev):
            outs = [self.fn(x, t) for x, t in zip(self.inputs, self.targets)]  # dispatch all
            for grads, _, _ in outs:
                grads.numpy()  # then wait for each: the device has finished


def prepare_saliency_call(
    classifier,
    *,
    variant: str,
    batch_size: int,
    device: str | None = "cpu",
    seed: int = 0,
    score: str = "logit",
    chunk_size: int | None = None,
    gradient_fn=None,
    precision: str = "float32",
):
    """Inputs on the device and a call computing saliency for the whole batch.

    Returns ``(call, fn, chunk)``: ``call()`` computes the gradients of the
    ``batch_size`` seeded random images (as calls of ``chunk`` images, the last chunk
    padded) and returns once they are on the host; ``fn`` is the
    :class:`~saliency_core.gradients.GradientFunction` it calls (new unless
    ``gradient_fn`` is given). Nothing is called yet (no trace, no compile).

    Raises:
        DeviceUnavailableError: ``device`` is not visible to TensorFlow.
    """
    import tensorflow as tf

    from ..gradients import build_gradient_fn

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    check_device(dev)
    chunk = batch_size if not chunk_size or chunk_size >= batch_size else int(chunk_size)
    images = random_inputs(classifier.input_shape, batch_size, classifier.dtype, seed)
    with device_scope(dev):
        xs = [tf.identity(tf.constant(x)) for x in _chunks(images, chunk)]
        ts = [tf.identity(tf.constant(np.full(chunk, -1, np.int32))) for _ in xs]
    fn = gradient_fn or build_gradient_fn(classifier, variant=variant, score=score, precision=precision)
    return _SaliencyCall(fn, xs, ts, dev), fn, chunk


def time_cell(
    classifier,
    *,
    variant: str,
    batch_size: int,
    device: str | None = "cpu",
    config: TimingConfig = TimingConfig(),
    seed: int = 0,
    score: str = "logit",
    chunk_size: int | None = None,
    forward: bool = True,
    flops_per_image: float | None = None,
    roof_gflops: float | None = None,
    gradient_fn=None,
    forward_fn=None,
    precision: str = "float32",
    fidelity: bool = True,
) -> dict:
    """Time saliency (and the forward pass) for one cell; return its metrics.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`.
        variant: "eager", "function" or "xla".
        batch_size: Images per timed call.
        device: "cpu", "gpu", "gpu:N" or None (TensorFlow's placement).
        config: Repeats, budget and warm-up.
        seed: Seed of the random input images.
        score: "logit" or "probability" (the class score differentiated).
        chunk_size: Compute the batch as calls of this many images (None or
            ``>= batch_size``: one call).
        forward: Also time the forward pass (``forward_median_s``); else None.
        flops_per_image: FLOPs of forward + input gradient for one image, for
            ``roof_fraction``; None leaves it None.
        roof_gflops: The machine's measured roof in GFLOP/s.
        gradient_fn, forward_fn: Prebuilt functions to time instead of building new
            ones (tests use this to inject a retracing function).
        precision: "float32", "bfloat16" or "float16" (mixed; the network computes in it).
        fidelity: For a low precision, also compare its maps of the timed images with
            float32 maps (``fidelity``; not timed).

    Returns:
        The ``timing`` metrics dict (see ``docs/ARCHITECTURE.md``): seconds per call,
        memory in MiB, plus ``chunk_size``, ``repeats``, ``rss_start_mb``,
        ``rss_delta_mb``, ``peak_rss_scope``, ``saliency_forward_ratio``,
        ``forward_times``, ``forward_retraces``, ``traces_first_call`` and
        ``process_cpu_per_wall`` (CPU seconds this process used per wall second of
        timed calls: about the number of cores it kept busy; a value well below the
        usual one for the same variant means other work was taking the cores),
        ``precision``, and for a low precision ``fidelity``
        (:meth:`saliency_core.fidelity.Fidelity.to_dict`, or None with ``fidelity``
        False); for float16 ``loss_scale`` (images recomputed at another loss scale,
        images still out of range).

    Raises:
        DeviceUnavailableError: ``device`` is not visible to TensorFlow.
        tf.errors.ResourceExhaustedError: Out of memory (the runner records it).
    """
    from ..gradients import build_forward_fn

    dev = resolve_device(device)
    probe = MemoryProbe(dev)
    probe.start()
    call, fn, chunk = prepare_saliency_call(
        classifier,
        variant=variant,
        batch_size=batch_size,
        device=device,
        seed=seed,
        score=score,
        chunk_size=chunk_size,
        gradient_fn=gradient_fn,
        precision=precision,
    )
    sal = time_calls(call, fn, config)
    peak_rss, rss_start, rss_scope, peak_device = probe.stop()
    fwd = None
    if forward:
        ffn = forward_fn or build_forward_fn(classifier, variant=variant, precision=precision)
        xs = call.inputs

        def forward_call():
            with device_scope(dev):
                for out in [ffn(x) for x in xs]:
                    out.numpy()

        fwd = time_calls(forward_call, ffn, config)
    del call
    agreement = None
    if precision != "float32" and fidelity:
        from ..fidelity import precision_fidelity

        images = random_inputs(classifier.input_shape, batch_size, classifier.dtype, seed)
        agreement = precision_fidelity(
            classifier,
            images,
            precision=precision,
            variant=variant,
            score=score,
            batch_size=chunk,
            device=device,
            gradient_fn=fn,
        ).to_dict()

    median, iqr, fastest = _stats(sal["times"])
    images_per_s = batch_size / median
    if sal["retraces"]:
        warnings.warn(
            f"{classifier.name} {variant} batch {batch_size}: the gradient function "
            f"traced {sal['retraces']} time(s) during timed calls; times include "
            "tracing",
            RetraceWarning,
            stacklevel=2,
        )
    fwd_median = _stats(fwd["times"])[0] if fwd else None
    if fwd and fwd["retraces"]:
        warnings.warn(
            f"{classifier.name} {variant} batch {batch_size}: the forward function "
            f"traced {fwd['retraces']} time(s) during timed calls",
            RetraceWarning,
            stacklevel=2,
        )
    return {
        "times": sal["times"],
        "median_s": median,
        "iqr_s": iqr,
        "min_s": fastest,
        "images_per_s": images_per_s,
        "compile_s": max(sal["first_call_s"] - median, 0.0),
        "first_call_s": sal["first_call_s"],
        "peak_rss_mb": peak_rss,
        "peak_device_mb": peak_device,
        "retraces": sal["retraces"],
        "flops_per_image": flops_per_image,
        "roof_fraction": roof_fraction(flops_per_image, images_per_s, roof_gflops),
        "roof_gflops": roof_gflops,
        "forward_median_s": fwd_median,
        # extras (not in the convention's required list)
        "repeats": len(sal["times"]),
        "chunk_size": chunk,
        "rss_start_mb": rss_start,
        "rss_delta_mb": None if rss_start is None else peak_rss - rss_start,
        "peak_rss_scope": rss_scope,
        "saliency_forward_ratio": (median / fwd_median) if fwd_median else None,
        "forward_times": fwd["times"] if fwd else None,
        "forward_first_call_s": fwd["first_call_s"] if fwd else None,
        "forward_retraces": fwd["retraces"] if fwd else None,
        "traces_first_call": sal["traces_first_call"],
        "process_cpu_per_wall": sal["cpu_s"] / sum(sal["times"]) if sum(sal["times"]) else None,
        "timing_config": config.to_dict(),
        "seed": seed,
        "precision": precision,
        **({"fidelity": agreement} if precision != "float32" else {}),
        **(
            {"loss_scale": {"rescaled": fn.rescaled, "unresolved": fn.unresolved}}
            if getattr(fn, "loss_scaled", False)
            else {}
        ),
    }
