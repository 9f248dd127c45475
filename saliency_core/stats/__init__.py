"""Statistics for trustworthy benchmark numbers: intervals over images and verdicts.

Public API::

    from saliency_core.stats import (bootstrap_interval, paired_difference_interval,
                                     decide, images_needed)
    iv = paired_difference_interval(method_auc, random_auc, seed=0)  # BCa by default
    decision = decide(iv, "<", 0.0)       # Decision("pass" | "fail" | "inconclusive", reason)
    if decision.verdict == "inconclusive":
        estimate = images_needed(method_auc - random_auc.mean(axis=0), 0.0)

Every input is one number per image; the image is the unit of resampling. The
modules here use only numpy and the standard library (no TensorFlow, no scipy),
and nothing uses the global random state.
"""

from .bootstrap import CI_METHODS, MIN_RESAMPLES, CiMethod, Interval, Statistic, bootstrap_interval
from .paired import ControlSpread, PairedInterval, paired_difference_interval
from .sample_size import SampleSizeEstimate, images_needed
from .verdict import OPS, Decision, Op, Verdict, decide, verdict

__all__ = [
    "CI_METHODS",
    "MIN_RESAMPLES",
    "OPS",
    "CiMethod",
    "ControlSpread",
    "Decision",
    "Interval",
    "Op",
    "PairedInterval",
    "SampleSizeEstimate",
    "Statistic",
    "Verdict",
    "bootstrap_interval",
    "decide",
    "images_needed",
    "paired_difference_interval",
    "verdict",
]
