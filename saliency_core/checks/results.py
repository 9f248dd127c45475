"""Results of a check run: one :class:`CheckResult` per (method, metric), and the report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["CheckResult", "CheckReport"]


@dataclass
class CheckResult:
    """One metric for one method on one model and data set (one ``check`` cell).

    Attributes:
        model, data, method, metric: The cell key (``metric`` is the registry name).
        status: "ok" or "failed".
        value: The metric's summary, or None if failed.
        direction: "lower" or "higher": which values mean a better method.
        per_image: The per-image numbers behind ``value``, in image order.
        statistics: Further named summaries (the metric's declared ``statistics``).
        config: The protocol as run.
        reason: Why the metric failed (``status == "failed"``).
        seconds: Wall-clock seconds the metric took (None when unknown).
        resumed: True when read back from the store instead of computed.
        info: The metric's metadata (category, label, reference), as stored.
        per_image_statistics: Per-image values behind statistics that are means.
        intervals: Bootstrap confidence interval of ``value`` and of each per-image
            statistic (``Interval`` fields: estimate, low, high, confidence, method,
            n_resamples, ...), or None where a value was not finite.
        warnings: Why these numbers cannot decide a gate rule (constant maps, a
            clean score already about 0, ...).
        per_ordering: For the chance baseline, (K, N) per-image values of each of its
            K random orderings (``per_image`` is their mean), else None.
        per_ordering_statistics: The same for each per-image statistic.
    """

    model: str
    data: str
    method: str
    metric: str
    status: str
    value: float | None
    direction: str
    per_image: list = field(default_factory=list)
    statistics: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    reason: str | None = None
    seconds: float | None = None
    resumed: bool = False
    info: dict = field(default_factory=dict)
    per_image_statistics: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    per_ordering: list | None = None
    per_ordering_statistics: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> dict:
        """The store key ``{model, data, method, metric}``."""
        return {"model": self.model, "data": self.data, "method": self.method, "metric": self.metric}

    def statistic(self, name: str) -> float | None:
        """``value`` for "value", else ``statistics[name]``; KeyError naming the choices."""
        if name == "value":
            return self.value
        if name not in self.statistics:
            raise KeyError(
                f"{self.metric} has no statistic {name!r}; available: "
                f"{', '.join(['value', *self.statistics])}"
            )
        return self.statistics[name]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def stored(self) -> dict:
        """The metrics of this result's ``check`` cell."""
        fields = (
            "value",
            "direction",
            "per_image",
            "statistics",
            "config",
            "seconds",
            "info",
            "per_image_statistics",
            "intervals",
            "warnings",
            "per_ordering",
            "per_ordering_statistics",
        )
        return {k: getattr(self, k) for k in fields}

    def per_image_of(self, statistic: str) -> list | None:
        """Per-image values behind ``statistic`` ("value" or a per-image statistic), or None."""
        return self.per_image if statistic == "value" else self.per_image_statistics.get(statistic)

    def orderings_of(self, statistic: str) -> list | None:
        """(K, N) per-ordering values behind ``statistic`` for the chance baseline, or None."""
        if statistic == "value":
            return self.per_ordering
        return (self.per_ordering_statistics or {}).get(statistic)

    @classmethod
    def from_cell(cls, cell) -> "CheckResult":
        """Read a stored ``check`` cell (:class:`saliency_core.store.Cell`)."""
        k, m = cell.key, cell.metrics or {}
        return cls(
            model=str(k.get("model")),
            data=str(k.get("data")),
            method=str(k.get("method")),
            metric=str(k.get("metric")),
            status=cell.status,
            value=m.get("value"),
            direction=str(m.get("direction", "")),
            per_image=list(m.get("per_image", [])),
            statistics=dict(m.get("statistics", {})),
            config=dict(m.get("config", {})),
            reason=cell.reason,
            seconds=m.get("seconds"),
            resumed=True,
            info=dict(m.get("info", {})),
            per_image_statistics=dict(m.get("per_image_statistics", {})),
            intervals=dict(m.get("intervals", {})),
            warnings=list(m.get("warnings", [])),
            per_ordering=m.get("per_ordering"),
            per_ordering_statistics=m.get("per_ordering_statistics"),
        )


@dataclass
class CheckReport:
    """All results of one :func:`~saliency_core.checks.run_checks` call.

    Attributes:
        model: Classifier name.
        data: Data set name.
        seed: Run seed.
        results: One :class:`CheckResult` per (method, metric), methods outer.
        run_id: Store run the cells went to, or None.
        settings: The run's settings as a dict (also in each cell's config).
    """

    model: str
    data: str
    seed: int
    results: list[CheckResult]
    run_id: str | None = None
    settings: dict = field(default_factory=dict)

    def get(self, method: str, metric: str) -> CheckResult | None:
        """The result for ``method`` and ``metric`` (registry name or alias), or None."""
        from ..metrics.base import METRICS

        name = METRICS.canonical(metric) if metric in METRICS else metric
        return next((r for r in self.results if r.method == method and r.metric == name), None)

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.results))

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def table(self, method: str, control: str) -> tuple[list[str], list[list[str]]]:
        """Headers and rows for one method: value, which way is better, the control's
        value and the margin over it (positive = better than the control), the spread
        over images, seconds, and the reason of a failed metric."""
        headers = [
            "metric",
            "value",
            "95% CI",
            "better",
            control,
            "margin",
            "per-image min..max",
            "seconds",
            "status",
        ]
        rows = []
        for r in (r for r in self.results if r.method == method):
            ctrl = self.get(control, r.metric) if method != control else None
            cval = ctrl.value if ctrl is not None and ctrl.ok else None
            margin = None
            if r.ok and r.value is not None and cval is not None:
                margin = (r.value - cval) * (-1.0 if r.direction == "lower" else 1.0) + 0.0
            values = [float(v) for v in r.per_image if v is not None]
            spread = f"{min(values):.3f}..{max(values):.3f}" if values and r.ok else "-"
            status = "ok" if r.ok else f"FAILED: {_short(r.reason or '', 70)}"
            judged = (r.config or {}).get("score_check")
            if r.ok and judged and judged.get("accepted"):
                status += (
                    f" ({judged['precision']} scores: AUC change {judged['change']:+.4f}, "
                    f"within +-{judged['auc_half_width']:.4f})"
                )
            if r.ok and r.warnings:
                status = "warning: " + _short("; ".join(r.warnings), 70)
            iv = (r.intervals or {}).get("value")
            ci = f"[{iv['low']:.3f}, {iv['high']:.3f}]" if iv else "-"
            rows.append(
                [
                    r.metric,
                    _fmt(r.value),
                    ci,
                    r.direction,
                    _fmt(cval),
                    _fmt(margin, "+.3f"),
                    spread,
                    _fmt(r.seconds, ".1f"),
                    status + (" (resumed)" if r.resumed else ""),
                ]
            )
        return headers, rows

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "data": self.data,
            "seed": self.seed,
            "run_id": self.run_id,
            "settings": self.settings,
            "results": [r.as_dict() for r in self.results],
        }


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."
