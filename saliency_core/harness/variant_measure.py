"""The short measurement behind ``variant="auto"``: each candidate's first call (trace,
and for XLA compile), then interleaved calls on seeded random images of the batch size
(one call of each candidate per round, so load that comes and goes falls on both), at
least ``MEASURE_CONFIG.min_repeats`` rounds and ``budget_s`` seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .call_timing import TimingConfig

__all__ = ["CANDIDATES", "MEASURE_CONFIG", "Measurement", "measure_variants"]


CANDIDATES = ("function", "xla")


#: Rounds of the short measurement: enough to rank two variants, not to report them.
MEASURE_CONFIG = TimingConfig(min_repeats=2, max_repeats=6, budget_s=1.0, warmup=0)


@dataclass(frozen=True)
class Measurement:
    """One variant's short measurement: seconds of its first call (trace, compile and
    one computation) and the median seconds of a call after it, or why it failed."""

    first_call_s: float | None = None
    median_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.median_s is not None


def measure_variants(
    classifier,
    *,
    device: str | None,
    precision: str,
    batch_size: int,
    candidates=CANDIDATES,
    config: TimingConfig = MEASURE_CONFIG,
    seed: int = 0,
    prepare: Callable | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Measure each candidate variant (see the module); ``{variant: Measurement}``.

    ``prepare(classifier, variant=, batch_size=, device=, seed=, precision=)`` returns
    ``(call, fn, chunk)`` as :func:`~.saliency_call.prepare_saliency_call` (the default), and
    ``clock`` reads seconds: both injectable for tests. A candidate whose preparation
    or first call raises is recorded with its error and left out of the rounds.
    """
    if prepare is None:
        from .saliency_call import prepare_saliency_call

        prepare = prepare_saliency_call
    out: dict = {}
    calls: dict = {}
    for variant in candidates:
        try:
            call, _, _ = prepare(
                classifier,
                variant=variant,
                batch_size=batch_size,
                device=device,
                seed=seed,
                precision=precision,
            )
            t0 = clock()
            call()
            first = clock() - t0
        except Exception as exc:  # noqa: BLE001 - a variant that cannot run is not chosen
            text = " ".join(str(exc).split())[:160]
            out[variant] = Measurement(error=f"{type(exc).__name__}: {text}")
            continue
        calls[variant], out[variant] = call, Measurement(first_call_s=first)
    times: dict = {v: [] for v in calls}
    spent, rounds = 0.0, 0
    while calls and rounds < config.max_repeats and (rounds < config.min_repeats or spent < config.budget_s):
        for variant, call in calls.items():
            t0 = clock()
            call()
            dt = clock() - t0
            times[variant].append(dt)
            spent += dt
        rounds += 1
    for variant, t in times.items():
        ordered = sorted(t)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        out[variant] = Measurement(first_call_s=out[variant].first_call_s, median_s=median)
    return {v: out[v] for v in candidates if v in out}
