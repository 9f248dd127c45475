"""Sanity-check metrics, one file each, found by registry.

Public API::

    from saliency_core.metrics import METRICS, Metric, MetricResult, register_metric
    METRICS.names()                         # built-in and plug-in metrics
    get_metric("deletion").direction        # "lower"

A new metric is one module in this package (or a plug-in) with a class decorated by
:func:`register_metric`; see :mod:`saliency_core.metrics.base`.
"""

from .base import (
    METRICS,
    Category,
    Direction,
    Metric,
    MetricResult,
    Need,
    NoSettings,
    default_metrics,
    get_metric,
    metric_names,
    register_metric,
)

__all__ = [
    "METRICS",
    "Category",
    "Direction",
    "Metric",
    "MetricResult",
    "Need",
    "NoSettings",
    "default_metrics",
    "get_metric",
    "metric_names",
    "register_metric",
]
