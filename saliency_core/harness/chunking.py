"""Pick, by measurement, the chunk size at which a model's saliency runs fastest.

Throughput does not grow with the batch size for ever: past some size the
activations stop fitting in cache and images/s falls (ResNet50 on two CPU cores:
under XLA about 8.5 images/s at batch 8 against 6.8 at batch 32; with the
``function`` variant we measured 10.5 at batch 16 against 5.7 at batch 32 in one
call). A large batch is therefore computed as calls of the fastest chunk size. That
size is found by timing the candidates (interleaved short runs, same variant and
device), never assumed; :class:`ChunkPlanner` caches the answer per (model, image
size, variant, device) so one run measures it once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .call_timing import TimingConfig

__all__ = ["DEFAULT_CANDIDATES", "SEARCH_CONFIG", "ChunkChoice", "ChunkPlanner", "find_best_chunk"]

DEFAULT_CANDIDATES = (4, 8, 16)
#: Interleaved rounds (one call per candidate each): enough to rank sizes, not to report them.
SEARCH_CONFIG = TimingConfig(min_repeats=3, max_repeats=9, budget_s=3.0, warmup=1)


@dataclass(frozen=True)
class ChunkChoice:
    """The measured images/s of each candidate chunk size and the fastest one.

    Attributes:
        best: The candidate with the highest images/s.
        images_per_s: ``{chunk size: images/s}`` as measured.
    """

    best: int
    images_per_s: dict = field(default_factory=dict)

    def chunk_for(self, batch_size: int) -> int | None:
        """Chunk size for a batch: ``best`` when the batch is larger, else None (one call)."""
        return self.best if batch_size > self.best else None

    def to_dict(self) -> dict:
        return {"best": self.best, "images_per_s": {str(k): v for k, v in self.images_per_s.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "ChunkChoice":
        return cls(
            best=int(data["best"]), images_per_s={int(k): float(v) for k, v in data["images_per_s"].items()}
        )


def find_best_chunk(
    classifier,
    *,
    variant: str,
    device: str | None,
    candidates=DEFAULT_CANDIDATES,
    config: TimingConfig = SEARCH_CONFIG,
    seed: int = 0,
    score: str = "logit",
    precision: str = "float32",
) -> ChunkChoice:
    """Time saliency at each candidate batch size and return the fastest.

    Each candidate gets its own compiled function (as a timing cell does) and its
    first call (trace, compile) and ``config.warmup`` calls are left out. The timed
    calls are **interleaved** (one call of each candidate per round), so load from
    other processes that comes and goes falls on all candidates alike; rounds run
    until ``config.min_repeats`` rounds and ``config.budget_s`` seconds are reached
    (or ``config.max_repeats`` rounds). The median time per candidate decides. A
    candidate that runs out of memory is left out (if all do, the error is raised).
    """
    import tensorflow as tf

    from .saliency_call import prepare_saliency_call

    sizes = sorted({int(c) for c in candidates})
    if not sizes or sizes[0] < 1:
        raise ValueError(f"chunk candidates must be positive integers, got {candidates!r}")
    calls, error = {}, None
    for size in sizes:
        try:
            call, _, _ = prepare_saliency_call(
                classifier,
                variant=variant,
                batch_size=size,
                device=device,
                seed=seed,
                score=score,
                precision=precision,
            )
            for _ in range(1 + config.warmup):
                call()
        except tf.errors.ResourceExhaustedError as exc:  # too large for this device: skip it
            error = exc
            continue
        calls[size] = call
    if not calls:
        assert error is not None  # every size ran out of memory
        raise error
    times: dict[int, list[float]] = {size: [] for size in calls}
    spent, rounds = 0.0, 0
    while rounds < config.max_repeats and (rounds < config.min_repeats or spent < config.budget_s):
        for size, call in calls.items():
            t0 = time.perf_counter()
            call()
            dt = time.perf_counter() - t0
            times[size].append(dt)
            spent += dt
        rounds += 1
    rates = {size: size / float(np.median(t)) for size, t in times.items()}
    best = max(rates, key=lambda s: rates[s])
    return ChunkChoice(best=best, images_per_s=rates)


class ChunkPlanner:
    """Per-run cache of :func:`find_best_chunk` results.

    Args:
        candidates: Chunk sizes to try; empty disables chunking (every batch is one call).
        config: Timing of each candidate.
        seed: Seed of the candidate inputs.
        search: The search function (injectable for tests).
    """

    def __init__(
        self,
        candidates=DEFAULT_CANDIDATES,
        *,
        config: TimingConfig = SEARCH_CONFIG,
        seed: int = 0,
        search: Callable[..., ChunkChoice] = find_best_chunk,
    ):
        self.candidates = tuple(sorted({int(c) for c in candidates}))
        self.config, self.seed, self._search = config, seed, search
        self._cache: dict[tuple, ChunkChoice] = {}

    def needed(self, batch_size: int) -> bool:
        """Whether a batch this large could be split (larger than the smallest candidate)."""
        return bool(self.candidates) and batch_size > self.candidates[0]

    def known(self, key: tuple) -> ChunkChoice | None:
        return self._cache.get(key)

    def remember(self, key: tuple, choice: ChunkChoice) -> None:
        self._cache[key] = choice

    def choice(
        self, classifier, *, key: tuple, variant: str, device: str | None, precision: str = "float32"
    ) -> ChunkChoice:
        """The cached choice for ``key`` (model, image size, variant, device and a low
        precision), measured once."""
        if key not in self._cache:
            extra = {} if precision == "float32" else {"precision": precision}
            self._cache[key] = self._search(
                classifier,
                variant=variant,
                device=device,
                candidates=self.candidates,
                config=self.config,
                seed=self.seed,
                **extra,
            )
        return self._cache[key]
