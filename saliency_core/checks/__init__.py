"""Sanity checks of saliency maps and the deployment gate.

Public API::

    from saliency_core.checks import run_checks, load_policy, evaluate_policy
    report = run_checks(clf, images, methods=["gradient", "edge"],
                        metrics=["deletion", "mprt-cascading"], seed=0)
    verdict = evaluate_policy(load_policy("default"), report)

The metric functions are importable on their own (``deletion_curve``, ``mprt``, ...);
:data:`METRICS` describes each (direction, category, reference). Importing this
package does not import TensorFlow.
"""

from .curves import deletion_curve, insertion_curve
from .data_randomization import data_randomization_test
from .gate import GateResult, Policy, PolicyError, Rule, evaluate_policy, load_policy
from .localisation import pointing_game, relevance_mass
from .perturbation import PRESETS, CurveConfig
from .randomization import mprt, random_logit
from .registry import METRICS, MetricInfo, register_metric
from .road import road_curve
from .runner import CheckReport, CheckResult, CheckSettings, run_checks

__all__ = [
    "CheckReport", "CheckResult", "CheckSettings", "CurveConfig", "GateResult", "METRICS",
    "MetricInfo", "PRESETS", "Policy", "PolicyError", "Rule", "data_randomization_test",
    "deletion_curve", "evaluate_policy", "insertion_curve", "load_policy", "mprt",
    "pointing_game", "random_logit", "register_metric", "relevance_mass", "road_curve",
    "run_checks",
]
