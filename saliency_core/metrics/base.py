"""The metric interface: one class per sanity-check metric, in a file of its own.

A metric declares its metadata as class attributes and computes a
:class:`MetricResult` for one method from a :class:`~saliency_core.metrics.context.CheckContext`::

    @register_metric
    class MapEntropy(Metric):
        name = "map-entropy"
        category = "complexity"
        direction = "lower"
        needs = frozenset({"maps"})
        reference = "..."

        def compute(self, ctx, method):
            p = np.abs(ctx.maps(method)).reshape(len(ctx.images), -1)
            p = p / p.sum(axis=1, keepdims=True)
            return MetricResult(per_image=-(p * np.log(p + 1e-12)).sum(axis=1))

The check runner, the gate, the suite validator, the CLI's choices, ``list metrics``
and the report read these attributes; none of them names a metric.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from ..unit_registry import Registry

__all__ = [
    "Metric",
    "MetricResult",
    "Category",
    "Direction",
    "Need",
    "METRICS",
    "register_metric",
    "get_metric",
    "metric_names",
    "default_metrics",
    "NoSettings",
]

Category = Literal["faithfulness", "randomization", "localisation", "complexity", "temporal"]
Direction = Literal["lower", "higher"]
Need = Literal["maps", "masks", "networks", "sequence", "model"]
"""What a metric needs: the method's maps (computed once per method and shared),
ground-truth object ``masks``, trained ``networks`` (data randomization), consecutive
video frames (``sequence``), or the ``model`` itself to re-run (randomization)."""


@dataclass(frozen=True)
class NoSettings:
    """Settings of a metric that has none."""


@dataclass
class MetricResult:
    """What a metric computed for one method.

    Attributes:
        per_image: (N,) values behind the summary, in image order (or per frame pair).
        value: The summary; None means the mean of ``per_image``.
        statistics: Further named summaries a gate rule may read (the metric's
            declared ``statistics``).
        config: The protocol as run (stored with the cell).
        extra: More JSON-ready numbers to store (targets, layer names, timings).
        artifacts: Arrays to store (curves, similarity per step) for the report.
    """

    per_image: np.ndarray
    value: float | None = None
    statistics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.per_image = np.asarray(self.per_image, np.float64).reshape(-1)
        if self.value is None:
            self.value = float(self.per_image.mean()) if self.per_image.size else float("nan")


class Metric:
    """Base class of every sanity-check metric (see the module docstring).

    Class attributes:
        name: Registry name, the ``metric`` of a stored check cell.
        aliases: Other accepted names ("mprt" for "mprt-cascading").
        category: What kind of check it is.
        direction: "lower" or "higher": which values mean a better method.
        needs: What it needs (see :data:`Need`).
        statistics: Names besides "value" that :meth:`compute` returns and a gate rule may read.
        reference: The paper (and code) the protocol follows.
        summary: One line for ``list metrics``.
        label: The value's name on a report axis ("AUC", "Spearman |map|").
        axis: For curve metrics, what the curve's x axis is (the report's label).
        default: In ``check``'s default metric list.
        settings: Frozen dataclass of the metric's own settings (defaults for every field).
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category]
    direction: ClassVar[Direction]
    needs: ClassVar[frozenset[str]] = frozenset({"maps"})
    statistics: ClassVar[tuple[str, ...]] = ()
    reference: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    label: ClassVar[str] = "value"
    axis: ClassVar[str] = ""
    default: ClassVar[bool] = False
    settings: ClassVar[type] = NoSettings

    def compute(self, ctx: Any, method: str) -> MetricResult:
        raise NotImplementedError

    def describe(self) -> dict:
        """Metadata for ``list metrics``, the store and the report."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "category": self.category,
            "direction": self.direction,
            "needs": sorted(self.needs),
            "statistics": list(self.statistics),
            "reference": self.reference,
            "summary": self.summary,
            "label": self.label,
            "axis": self.axis,
        }


METRICS: Registry[Metric] = Registry("metric", "saliency_core.metrics", "saliency_bench.metrics")

_CATEGORIES = ("faithfulness", "randomization", "localisation", "complexity", "temporal")
_NEEDS = ("maps", "masks", "networks", "sequence", "model")


def register_metric(cls: type[Metric]) -> type[Metric]:
    """Class decorator: check the declaration and add one instance to :data:`METRICS`."""
    for attr in ("name", "category", "direction"):
        if not isinstance(getattr(cls, attr, None), str):
            raise TypeError(f"metric class {cls.__name__} must declare {attr!r}")
    if cls.direction not in ("lower", "higher"):
        raise ValueError(f"metric {cls.name!r}: direction must be 'lower' or 'higher'")
    if cls.category not in _CATEGORIES:
        raise ValueError(f"metric {cls.name!r}: category must be one of {', '.join(_CATEGORIES)}")
    unknown = set(cls.needs) - set(_NEEDS)
    if unknown:
        raise ValueError(
            f"metric {cls.name!r}: unknown needs {sorted(unknown)}; choose from {', '.join(_NEEDS)}"
        )
    if "value" in cls.statistics:
        raise ValueError(f"metric {cls.name!r}: 'value' is implied; do not list it in statistics")
    if not dataclasses.is_dataclass(cls.settings):
        raise TypeError(f"metric {cls.name!r}: settings must be a dataclass")
    METRICS.add(cls.name, cls(), aliases=tuple(cls.aliases))
    return cls


def get_metric(name: str) -> Metric:
    """The registered metric ``name`` (or alias); ValueError naming the choices."""
    return METRICS.get(name)


def metric_names(category: str | None = None) -> list[str]:
    """Registered metric names (of one category), in registration order."""
    return [m.name for m in METRICS if category is None or m.category == category]


def default_metrics(*, has_masks: bool = False) -> list[str]:
    """``check``'s default metrics: those marked ``default``, plus the ones that need
    object masks when the data has them."""
    return [
        m.name
        for m in METRICS
        if m.default or (has_masks and "masks" in m.needs and m.needs <= {"maps", "masks"})
    ]
