"""A suite's optional ``[checks]`` and ``[agreement]`` tables: their keys and defaults
(``CHECKS_DEFAULTS``, ``AGREEMENT_DEFAULTS``), their checks when the suite is read, and
the settings they give (:func:`~.suites.checks_settings`,
:func:`~.suites.agreement_settings`)::

    [checks]                      # optional: after timing, ``saliency-bench run`` also
    model = "efficientnet-lite0"  # records example maps, runs sanity checks and the
    images = 7                    # gate; keys and defaults: CHECKS_DEFAULTS

    [agreement]                   # optional: after timing, compare each model's variants
    images = 2                    # with eager (variant_agreement); AGREEMENT_DEFAULTS
"""

from __future__ import annotations

from typing import Any

from ..checks.settings import DEFAULT_BATCH_SIZE, DEFAULT_CURVE_STEPS, DEFAULT_PRECISION, DEFAULT_VARIANT
from .suite_schema import check_table, key_error, list_of

__all__ = ["AGREEMENT_DEFAULTS", "CHECKS_DEFAULTS"]


#: Keys of a suite's ``[checks]`` table and their defaults. ``None`` for methods,
#: metrics, map_methods and gate_method means the registries' defaults (see
#: :func:`checks_settings`); the numbers come from :mod:`saliency_core.checks.settings`.
CHECKS_DEFAULTS: dict[str, Any] = {
    "model": "efficientnet-lite0",  # the pretrained model that installs offline
    "data": "photos",  # photos, synthetic or an image folder
    "images": 7,
    "methods": None,
    "metrics": None,
    "map_methods": None,
    "method_options": {},  # {method: {option: value}}
    "metric_settings": {},  # {metric: {setting: value}}
    "policy": "default",
    "gate_method": None,
    "curve_steps": DEFAULT_CURVE_STEPS,
    "variant": DEFAULT_VARIANT,
    "precision": DEFAULT_PRECISION,
    "batch_size": DEFAULT_BATCH_SIZE,
}


_CHECKS_SCHEMA = {
    "model": str,
    "data": str,
    "images": int,
    "methods": list,
    "metrics": list,
    "map_methods": list,
    "method_options": dict,
    "metric_settings": dict,
    "policy": str,
    "gate_method": str,
    "curve_steps": int,
    "variant": str,
    "precision": str,
    "batch_size": int,
}


#: Keys of a suite's ``[agreement]`` table and their defaults.
AGREEMENT_DEFAULTS = {
    "images": 2,  # the first bundled photos
    "variants": ["function", "xla"],  # each compared with eager
    "kink_tol": 1e-4,  # units this close to a kink are pinned
}


def check_checks(table: dict, source: str) -> None:
    """Validate a ``[checks]`` table: known keys, types and values."""
    from ..gradients import PRECISIONS, VARIANTS
    from ..methods.base import METHODS, get_method, resolve_options

    check_table(table, _CHECKS_SCHEMA, source, prefix="checks.")
    methods = tuple(METHODS.names())
    for key in ("methods", "map_methods"):
        if key in table:
            list_of(table, key, str, source, allowed=methods, prefix="checks.")
    if "metrics" in table:
        from ..metrics.base import METRICS

        allowed = (*METRICS.names(), *METRICS.aliases())
        list_of(table, "metrics", str, source, allowed=allowed, prefix="checks.")
        _check_metric_needs(table, source)
    for name, values in table.get("method_options", {}).items():
        try:
            resolve_options(get_method(name), values)
        except (ValueError, TypeError) as exc:
            raise key_error(source, f"checks.method_options.{name}", str(exc)) from None
    for name, values in table.get("metric_settings", {}).items():
        from ..metrics.base import get_metric, resolve_settings

        try:
            resolve_settings(get_metric(name), values)
        except (ValueError, TypeError) as exc:
            raise key_error(source, f"checks.metric_settings.{name}", str(exc)) from None
    if "gate_method" in table and table["gate_method"] not in methods:
        raise key_error(
            source,
            "checks.gate_method",
            f"unknown method {table['gate_method']!r}; choose from {', '.join(methods)}",
        )
    if table.get("precision", DEFAULT_PRECISION) not in PRECISIONS:
        raise key_error(
            source,
            "checks.precision",
            f"unknown precision {table['precision']!r}; choose from {', '.join(PRECISIONS)}",
        )
    if table.get("variant", DEFAULT_VARIANT) not in VARIANTS:
        raise key_error(
            source,
            "checks.variant",
            f"unknown variant {table['variant']!r}; choose from {', '.join(VARIANTS)}",
        )
    for key in ("images", "curve_steps", "batch_size"):
        if key in table and table[key] < 1:
            raise key_error(source, f"checks.{key}", f"must be >= 1, got {table[key]}")
    if "policy" in table:
        from ..checks.policy import PolicyError, load_policy

        try:
            load_policy(table["policy"])
        except PolicyError as exc:
            raise key_error(source, "checks.policy", str(exc)) from None


def check_agreement(table: dict, source: str) -> None:
    """Validate an ``[agreement]`` table: known keys, types and values."""
    schema = {"images": int, "variants": list, "kink_tol": (int, float)}
    check_table(table, schema, source, prefix="agreement.")
    if "variants" in table:
        list_of(table, "variants", str, source, allowed=("function", "xla"), prefix="agreement.")
    if table.get("images", 1) < 1:
        raise key_error(source, "agreement.images", f"must be >= 1, got {table['images']}")
    if not table.get("kink_tol", 1.0) > 0:
        raise key_error(source, "agreement.kink_tol", f"must be > 0, got {table['kink_tol']}")


def _check_metric_needs(table: dict, source: str) -> None:
    """Metrics a suite's checks cannot compute: those that need object masks without
    synthetic data, trained networks (they retrain; ``saliency-bench check``), or frames."""
    from ..metrics.base import METRICS

    data = table.get("data", CHECKS_DEFAULTS["data"])
    for i, name in enumerate(table["metrics"]):
        needs = METRICS.get(name).needs
        if "networks" in needs:
            raise key_error(
                source,
                f"checks.metrics[{i}]",
                f"{name} retrains the network and does not run in a suite; use "
                f"'saliency-bench check --model synthetic-cnn --data synthetic "
                f"--metrics {name}'",
            )
        if "masks" in needs and data != "synthetic":
            raise key_error(
                source,
                f"checks.metrics[{i}]",
                f'{name} needs ground-truth object masks: data = "synthetic" (data is {data!r})',
            )
