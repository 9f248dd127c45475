"""The timing protocol of one repeated call (:func:`time_calls`): the first call alone,
warm-up calls, then timed calls until both ``min_repeats`` and ``budget_s`` are reached
(or ``max_repeats``), with the retraces seen; its settings (:class:`TimingConfig`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable


__all__ = ["TimingConfig", "RetraceWarning", "time_calls"]


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


def time_calls(
    call: Callable[[], object], fn, config: TimingConfig, clock: Callable[[], float] = time.perf_counter
) -> dict:
    """Time ``call`` (which must block until the device is done) by the method of :mod:`.timing`.

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


def median_iqr_min(times: list[float]) -> tuple[float, float, float]:
    """median, IQR (pytest-benchmark's quartiles, as the export computes them), min."""
    from ..store.export import timing_stats

    s = timing_stats(times)
    return float(s["median"]), float(s["iqr"]), float(s["min"])
