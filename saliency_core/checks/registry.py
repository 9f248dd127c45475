"""The metrics registry: every sanity-check metric with its declared metadata.

Reports and gates read ``direction`` to know which way is good and ``category`` to
group results; ``reference`` names the protocol's source. Metrics are plain
functions whose call depends on what they need; the registry only describes them:

* curves (``deletion``, ``insertion``): ``fn(classifier, images, maps, *, config, ...)``;
  ROAD (``road-morf``, ``road-lerf``) also takes ``seed``;
* model randomization (``mprt-*``, ``random-logit``): ``fn(classifier, images, *, seed,
  method, variant, ...)``: they compute their own maps;
* ``data-randomization``: ``fn(train_set, test_images, *, seed, ...)``: it trains networks;
* localisation (``pointing-game``, ``relevance-mass``): ``fn(maps, masks)``.

:func:`~saliency_core.checks.runner.run_checks` knows each call. Other check modules
add theirs with :func:`register_metric`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from .curves import deletion_curve, insertion_curve
from .road import road_curve
from .data_randomization import data_randomization_test
from .localisation import pointing_game, relevance_mass
from .randomization import mprt, random_logit

__all__ = ["MetricInfo", "METRICS", "DIRECTIONS", "CATEGORIES", "register_metric", "get_metric",
           "metrics_in"]

DIRECTIONS = ("lower", "higher")
CATEGORIES = ("faithfulness", "randomization", "localisation")


@dataclass(frozen=True)
class MetricInfo:
    """One registered metric.

    Attributes:
        name: Registry key, also the ``metric`` of a stored check cell ("deletion").
        fn: The pure function computing it.
        direction: "lower" or "higher": which values mean a better saliency method.
        category: "faithfulness", "randomization" or "localisation".
        reference: Where the protocol comes from (paper, and code for settings the
            paper leaves open).
    """

    name: str
    fn: Callable
    direction: str
    category: str
    reference: str


METRICS: dict[str, MetricInfo] = {}


def register_metric(name: str, fn: Callable, *, direction: str, category: str, reference: str,
                    replace: bool = False) -> MetricInfo:
    """Add a metric to :data:`METRICS` and return its entry.

    Raises ValueError for an unknown direction or category, or for a name already
    registered unless ``replace`` is True.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {', '.join(CATEGORIES)}, got {category!r}")
    if not callable(fn):
        raise TypeError(f"metric {name!r}: fn must be callable")
    if name in METRICS and not replace:
        raise ValueError(f"metric {name!r} is already registered")
    info = MetricInfo(name=name, fn=fn, direction=direction, category=category, reference=reference)
    METRICS[name] = info
    return info


def get_metric(name: str) -> MetricInfo:
    """The entry for ``name``; ValueError listing the known names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(sorted(METRICS))}") from None


def metrics_in(category: str) -> list[MetricInfo]:
    """Registered metrics of one category, in registration order."""
    return [m for m in METRICS.values() if m.category == category]


_RISE = ("Petsiuk, Das & Saenko, RISE, BMVC 2018 (arXiv:1806.07421), deletion/insertion "
         "metrics; step, substrates and AUC from github.com/eclique/RISE evaluation.py")
_ROAD = ("Rong et al., A Consistent and Efficient Evaluation Strategy for Attribution Methods, "
         "ICML 2022 (arXiv:2202.00449); imputer settings from github.com/tleemann/road_evaluation")

register_metric("deletion", deletion_curve, direction="lower", category="faithfulness",
                reference=_RISE)
register_metric("insertion", insertion_curve, direction="higher", category="faithfulness",
                reference=_RISE)
register_metric("road-morf", partial(road_curve, order="most-relevant-first"), direction="lower",
                category="faithfulness", reference=_ROAD + ", MoRF order")
register_metric("road-lerf", partial(road_curve, order="least-relevant-first"), direction="higher",
                category="faithfulness", reference=_ROAD + ", LeRF order")

_ADEBAYO = ("Adebayo et al., Sanity Checks for Saliency Maps, NeurIPS 2018 (arXiv:1810.03292); "
            "similarity measures from github.com/adebayoj/sanity_checks_saliency")
register_metric("mprt-cascading", partial(mprt, mode="cascading"), direction="lower",
                category="randomization", reference=_ADEBAYO + ", cascading randomization")
register_metric("mprt-independent", partial(mprt, mode="independent"), direction="lower",
                category="randomization", reference=_ADEBAYO + ", independent randomization")
register_metric("random-logit", random_logit, direction="lower", category="randomization",
                reference="Sixt, Granz & Landgraf, When Explanations Lie, ICML 2020 "
                          "(arXiv:1912.09818), random logit test")
register_metric("data-randomization", data_randomization_test, direction="lower",
                category="randomization", reference=_ADEBAYO + ", data randomization test")
register_metric("pointing-game", pointing_game, direction="higher", category="localisation",
                reference="Zhang et al., Top-down Neural Attention by Excitation Backprop, "
                          "ECCV 2016 (arXiv:1608.00507), without the 15-pixel tolerance")
register_metric("relevance-mass", relevance_mass, direction="higher", category="localisation",
                reference="Arras, Osman & Samek, CLEVR-XAI, Information Fusion 81 (2022) "
                          "(arXiv:2003.07258), relevance mass accuracy (absolute relevance here)")
