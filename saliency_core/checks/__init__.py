"""Sanity checks of saliency maps (orchestration) and the deployment gate.

Public API::

    from saliency_core.checks import run_checks, load_policy, evaluate_policy
    report = run_checks(clf, images, methods=["gradient", "edge"],
                        metrics=["deletion", "mprt-cascading"], seed=0, data_name="photos")
    verdict = evaluate_policy(load_policy("default"), report)

The metrics themselves are in :mod:`saliency_core.metrics` (one file each); their
protocol engines (curves, ROAD, randomization, similarity, localisation) are modules
of this package. Names are imported on first use, so importing this package does
not import TensorFlow and creates no import cycle with the metrics.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CheckReport": "results",
    "CheckResult": "results",
    "CheckSettings": "settings",
    "CurveConfig": "perturbation",
    "PRESETS": "perturbation",
    "GateResult": "gate_result",
    "Policy": "policy",
    "PolicyError": "policy",
    "Rule": "policy",
    "evaluate_policy": "gate",
    "load_policy": "policy",
    "data_randomization_test": "data_randomization",
    "deletion_curve": "curves",
    "insertion_curve": "curves",
    "pointing_game": "localisation",
    "relevance_mass": "localisation",
    "mprt": "randomization",
    "random_logit": "random_logit_test",
    "road_curve": "road",
    "run_checks": "check_runner",
    "selected_metrics": "check_runner",
    "chance_baseline": "check_runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value
