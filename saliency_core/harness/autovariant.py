"""``variant="auto"``: pick the gradient variant by a short measurement, cached on disk.

The command line's default for ``explain``, ``check`` and ``gate`` (the library's
``Explainer`` and ``saliency`` keep an explicit default). :func:`choose_variant`:

1. Looks up the measurement for this (model, input shape, parameter count, device,
   precision, batch size, TensorFlow version, host) in a small JSON file,
   ``$SALIENCY_BENCH_CACHE/auto-variant.json`` (default ``~/.cache/saliency-bench``).
2. If there is none, measures each candidate (``function``, ``xla``; ``eager`` is the
   same kernels as ``function`` without the graph, never faster in this project's
   measurements): its first call (trace, and for XLA compile) and then interleaved
   calls on seeded random images of the batch size (one call of each candidate per
   round, so load that comes and goes falls on both), at least
   ``MEASURE_CONFIG.min_repeats`` rounds and ``budget_s`` seconds. The result is
   written to the cache (a cache that cannot be written is said in the reason).
3. Decides for the expected number of calls ``calls``: the variant with the least
   ``first_call_s + (calls - 1) * median_s``. A one-off ``explain`` of a few images
   counts the compile; a check run (hundreds of calls) counts the steady rate.
4. If no candidate could be measured (every one raised, or ``measure=None``), the
   documented rule: :data:`RULE` (CPU: ``function``; GPU: ``xla``).

It only picks a variant: the precision is the caller's, never lowered. The choice and
why are one line (:meth:`VariantChoice.line`), which the command line prints on stderr.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .variant_cache import cache_path, choice_key, device_kind, read_cache, write_cache
from .variant_measure import Measurement, measure_variants

__all__ = [
    "AUTO",
    "RULE",
    "CHECK_CALLS",
    "VariantChoice",
    "decide",
    "rule_choice",
    "choose_variant",
    "calls_for",
]


AUTO = "auto"


#: Expected calls of a check or gate run: deletion and insertion curves, randomization
#: steps and SmoothGrad samples make hundreds of gradient and forward calls.
CHECK_CALLS = 200


#: The rule used when nothing could be measured, per device kind, with its reason.
RULE = {
    "cpu": (
        "function",
        "on a CPU the function variant was as fast or faster in this "
        "project's measurements (XLA 9-17x slower for depthwise "
        "convolutions) and compiles in a fraction of XLA's time",
    ),
    "gpu": (
        "xla",
        "on a GPU XLA fuses the elementwise work between convolutions (not measured in this project: no GPU)",
    ),
}


@dataclass(frozen=True)
class VariantChoice:
    """The variant chosen and why.

    Attributes:
        variant: "function" or "xla" (or "eager" when it is the only candidate).
        source: "measured" (now), "cache" (an earlier measurement) or "rule".
        reason: One line saying why.
        key: The cache key the measurement is filed under.
        measurements: ``{variant: Measurement}`` behind the choice (empty for a rule).
        calls: The expected number of calls the choice was made for.
    """

    variant: str
    source: str
    reason: str
    key: str
    measurements: dict = field(default_factory=dict)
    calls: int = 1

    def line(self) -> str:
        """The one line the command line prints."""
        return f"variant auto -> {self.variant} ({self.source}): {self.reason}"

    def record(self) -> dict:
        """JSON-ready form, for a run's config."""
        return {
            "variant": self.variant,
            "source": self.source,
            "reason": self.reason,
            "key": self.key,
            "calls": self.calls,
            "measurements": {k: asdict(v) for k, v in self.measurements.items()},
        }


def rule_choice(device_kind: str) -> tuple[str, str]:
    """:data:`RULE`'s variant and reason for ``"cpu"`` or ``"gpu"``."""
    return RULE["cpu" if device_kind == "cpu" else "gpu"]


def decide(measurements: dict, calls: int) -> tuple[str, str] | None:
    """The measured variant with the least expected time for ``calls`` calls
    (``first_call_s + (calls - 1) * median_s``) and a reason; None if none is ok.
    Ties go to the first candidate in ``measurements``' order."""
    ok = {v: m for v, m in measurements.items() if m.ok}
    if not ok:
        return None
    calls = max(1, int(calls))
    cost = {v: m.first_call_s + (calls - 1) * m.median_s for v, m in ok.items()}
    best = min(cost, key=lambda v: cost[v])
    parts = [f"{v} {m.median_s * 1e3:.0f} ms/call, first call {m.first_call_s:.1f} s" for v, m in ok.items()]
    parts += [f"{v} failed ({m.error})" for v, m in measurements.items() if not m.ok]
    others = [cost[v] for v in cost if v != best]
    margin = f", {min(others) / cost[best]:.2f}x less time" if others and cost[best] > 0 else ""
    return best, f"least time for {calls} call(s){margin}: " + "; ".join(parts)


def choose_variant(
    classifier,
    *,
    device: str | None = None,
    precision: str = "float32",
    batch_size: int = 8,
    calls: int = 1,
    cache: str | Path | None = None,
    use_cache: bool = True,
    measure: Callable | None = measure_variants,
    tf_version: str | None = None,
) -> VariantChoice:
    """Choose the variant for ``classifier`` (see the module).

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier`.
        device: "cpu", "gpu", "gpu:N" or None (TensorFlow's placement).
        precision: The precision the calls will run at (kept; never lowered).
        batch_size: Images per call.
        calls: Expected number of calls of the chosen function.
        cache: The cache file (default :func:`cache_path`).
        use_cache: Read and write the cache; False measures every time.
        measure: ``measure(classifier, device=, precision=, batch_size=)`` ->
            ``{variant: Measurement}``; None never measures (the rule decides).
        tf_version: For the key (default: the installed TensorFlow's).
    """
    key = choice_key(
        classifier, device=device, precision=precision, batch_size=batch_size, tf_version=tf_version
    )
    path = Path(cache) if cache is not None else cache_path()
    measurements, source, note = {}, "rule", ""
    entry = read_cache(path).get(key) if use_cache else None
    if entry is not None:
        try:
            measurements = {k: Measurement(**v) for k, v in entry["measurements"].items()}
            source = "cache"
            note = f" (measured {entry.get('measured', '?')}, {path})"
        except (KeyError, TypeError):
            measurements = {}
    if not measurements and measure is not None:
        measurements = measure(classifier, device=device, precision=precision, batch_size=batch_size)
        source = "measured"
        if use_cache and any(m.ok for m in measurements.values()):
            error = write_cache(path, key, measurements)
            note = f" (not cached: {error})" if error else f" (cached in {path})"
    decided = decide(measurements, calls)
    if decided is None:
        variant, why = rule_choice(device_kind(device))
        failed = "; ".join(f"{v}: {m.error}" for v, m in measurements.items() if not m.ok)
        reason = f"rule: {why}" + (f" (nothing could be measured: {failed})" if failed else " (not measured)")
        return VariantChoice(variant, "rule", reason, key, measurements, max(1, int(calls)))
    variant, why = decided
    return VariantChoice(variant, source, why + note, key, measurements, max(1, int(calls)))


def calls_for(images: int, batch_size: int) -> int:
    """Gradient calls of one pass over ``images`` in chunks of ``batch_size``."""
    return max(1, math.ceil(images / max(1, batch_size)))
