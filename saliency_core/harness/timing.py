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

import warnings


from ..devices import device_scope, resolve_device
from .call_timing import RetraceWarning, TimingConfig, median_iqr_min, time_calls
from .flops import roof_fraction
from .memory_probe import MemoryProbe
from .saliency_call import prepare_saliency_call, random_inputs

__all__ = ["time_cell"]


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

    median, iqr, fastest = median_iqr_min(sal["times"])
    images_per_s = batch_size / median
    if sal["retraces"]:
        warnings.warn(
            f"{classifier.name} {variant} batch {batch_size}: the gradient function "
            f"traced {sal['retraces']} time(s) during timed calls; times include "
            "tracing",
            RetraceWarning,
            stacklevel=2,
        )
    fwd_median = median_iqr_min(fwd["times"])[0] if fwd else None
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
