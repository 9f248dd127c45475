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
    "resolve_settings",
    "parse_metric_settings",
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
            declared ``statistics``). A statistic given in ``per_image_statistics``
            and not here is the mean of its per-image values.
        per_image_statistics: (N,) values behind a statistic that is a mean over
            images, so that it gets a confidence interval (and a paired one against a
            control).
        config: The protocol as run (stored with the cell).
        extra: More JSON-ready numbers to store (targets, layer names, timings).
        artifacts: Arrays to store (curves, similarity per step) for the report.
        warnings: Reasons the numbers cannot decide a rule (a model whose clean
            score is already about 0, ...): a gate rule on this result is
            inconclusive, never passed.
    """

    per_image: np.ndarray
    value: float | None = None
    statistics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)
    per_image_statistics: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.per_image = np.asarray(self.per_image, np.float64).reshape(-1)
        if self.value is None:
            self.value = float(self.per_image.mean()) if self.per_image.size else float("nan")
        self.per_image_statistics = {
            k: np.asarray(v, np.float64).reshape(-1) for k, v in self.per_image_statistics.items()
        }
        for name, values in self.per_image_statistics.items():
            if len(values) != len(self.per_image):
                raise ValueError(
                    f"statistic {name!r} has {len(values)} per-image values, the result {len(self.per_image)}"
                )
            self.statistics.setdefault(name, float(values.mean()))


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
        chance_orderings: Whether the chance baseline is measured over several random
            orderings (each its own seed) and averaged. False for metrics on which any
            model-independent map scores the same whatever its seed.
        settings: Frozen dataclass of the metric's own settings (defaults for every field).
        image_axes: Artifacts that hold one slice per image, and the axis of it: chunk
            results are joined along it (other artifacts are kept from the first chunk).
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
    chance_orderings: ClassVar[bool] = True
    settings: ClassVar[type] = NoSettings
    image_axes: ClassVar[dict[str, int]] = {}

    def compute(self, ctx: Any, method: str) -> MetricResult:
        raise NotImplementedError

    def combine(self, chunks: list[MetricResult]) -> MetricResult:
        """One result from the results of consecutive chunks of images: per-image values
        joined; a per-image statistic is the mean of its joined values; any other
        statistic and the value are averaged with each chunk weighted by its images.
        Override when a statistic is not a mean over images."""
        if len(chunks) == 1:
            return chunks[0]
        sizes = np.array([len(c.per_image) for c in chunks], np.float64)
        weights = sizes / sizes.sum()
        per_image_stats = {
            k: np.concatenate([c.per_image_statistics[k] for c in chunks])
            for k in chunks[0].per_image_statistics
        }
        statistics = {
            k: float(np.dot(weights, [c.statistics[k] for c in chunks]))
            for k in chunks[0].statistics
            if k not in per_image_stats
        }
        extra = dict(chunks[0].extra)
        for key in (
            "per_ordering",
            "per_ordering_statistics",
            "targets",
            "others",
            "true_vs_true",
            "score_check",
        ):
            if key not in extra:
                continue
            if isinstance(extra[key], dict):
                extra[key] = {
                    k: np.concatenate([np.asarray(c.extra[key][k]) for c in chunks], axis=-1)
                    for k in extra[key]
                }
            else:
                extra[key] = np.concatenate([np.asarray(c.extra[key]) for c in chunks], axis=-1)
        artifacts = dict(chunks[0].artifacts)
        for key, axis in self.image_axes.items():
            if key in artifacts:
                artifacts[key] = np.concatenate([c.artifacts[key] for c in chunks], axis=axis)
        return MetricResult(
            per_image=np.concatenate([c.per_image for c in chunks]),
            value=float(np.dot(weights, np.array([c.value for c in chunks], np.float64))),
            statistics=statistics,
            per_image_statistics=per_image_stats,
            config=chunks[0].config,
            extra=extra,
            artifacts=artifacts,
            warnings=list(dict.fromkeys(w for c in chunks for w in c.warnings)),
        )

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
            "settings": dataclasses.asdict(self.settings()),
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


def default_metrics(*, has_masks: bool = False, sequence: bool = False) -> list[str]:
    """``check``'s default metrics: those marked ``default``, plus the ones that need
    object masks when the data has them and the ones that need consecutive video
    frames when the data is a video."""
    data = {"maps"} | ({"masks"} if has_masks else set()) | ({"sequence"} if sequence else set())
    return [m.name for m in METRICS if m.default or (m.needs & {"masks", "sequence"} and m.needs <= data)]


def resolve_settings(metric: Metric, values: Any = None) -> Any:
    """``metric``'s settings from None (defaults), an instance, or a mapping of overrides
    (strings converted to each field's type). ValueError names an unknown or mistyped
    setting."""
    from ..methods.base import resolve_fields

    return resolve_fields(
        metric.settings, values, owner=f"metric {metric.name!r}", prefix=metric.name, noun="setting"
    )


def parse_metric_settings(specs: list[str] | None) -> dict[str, dict[str, str]]:
    """``["smprt.samples=10", ...]`` -> ``{"smprt": {"samples": "10"}}``, each checked
    against its metric's settings (ValueError naming a malformed spec, an unknown
    metric or setting, or a value of the wrong type)."""
    out: dict[str, dict[str, str]] = {}
    for spec in specs or []:
        left, eq, value = spec.partition("=")
        name, dot, key = left.strip().partition(".")
        if not eq or not dot or not name or not key:
            raise ValueError(f"--metric-setting {spec!r}: expected METRIC.SETTING=VALUE")
        out.setdefault(METRICS.canonical(name), {})[key.strip()] = value.strip()
    for name, values in out.items():
        resolve_settings(get_metric(name), values)
    return out
