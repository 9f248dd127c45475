"""Run sanity-check metrics for several saliency methods and record each as a ``check`` cell.

:func:`run_checks` computes every requested metric for every requested method on one
model and one data set, and writes one ``check`` cell per (model, data, method, metric)
to the results store as soon as it finishes (see ``docs/ARCHITECTURE.md``, "Cell
conventions"). A metric that raises becomes a failed cell with its reason; the others
go on. Cells already in the run are read back instead of recomputed, so a resumed run
only does the missing work.

What each metric's ``value`` is (the number tables and gates read):

* ``deletion``, ``insertion``, ``road-morf``, ``road-lerf``: the area under the mean
  curve (score against the fraction of pixels moved); ``per_image`` holds each image's
  area. The maps are reduced with ``CheckSettings.curve_reduce``.
* ``mprt-cascading``: the mean over images of the Spearman rank correlation of the
  absolute maps (``spearman_abs``) between the trained model and the fully randomized
  one (the last cascading step). ``mprt-independent``: that correlation averaged over
  the independent steps. ``per_image`` holds the per-image numbers behind the value.
* ``random-logit``: mean SSIM between the map of the top-1 class and the map of a
  seeded random other class (Sixt et al. 2020).
* ``pointing-game``: fraction of images whose absolute map peaks on the object;
  ``relevance-mass``: mean fraction of absolute relevance on the object. Both need
  ground-truth masks.
* ``data-randomization``: mean over images of the Spearman rank correlation of the
  absolute maps of a network trained on the true labels and one trained on permuted
  labels (Adebayo et al. 2018, Sec. 5); statistic ``margin`` is the same correlation
  between two true-label networks minus it (above 0: the maps depend on the labels).
  Needs the three networks (:func:`~.data_randomization.train_randomization_networks`);
  the classifier is not used.

Other numbers a gate may use are in the cell's ``statistics`` (see
:func:`statistics_for`).

Example::

    from saliency_core.checks.runner import run_checks
    report = run_checks(clf, x, methods=["gradient", "random"], metrics=["deletion"],
                        seed=0, data_name="photos", variant="function")
    report.get("gradient", "deletion").value
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from ..methods import MethodOptions
from .perturbation import PRESETS, ROAD_FRACTIONS, CurveConfig
from .registry import METRICS
from .similarity import SIMILARITIES

__all__ = ["CLI_METRICS", "DEFAULT_METRICS", "LOCALISATION_METRICS", "NETWORK_METRICS",
           "CheckSettings",
           "CheckResult", "CheckReport", "metric_name", "statistics_for", "selected_metrics",
           "run_checks"]

log = logging.getLogger(__name__)

# Command-line metric names -> registry names (the ``metric`` of a stored cell).
CLI_METRICS: dict[str, str] = {
    "deletion": "deletion",
    "insertion": "insertion",
    "road-morf": "road-morf",
    "road-lerf": "road-lerf",
    "mprt": "mprt-cascading",
    "mprt-cascading": "mprt-cascading",
    "mprt-independent": "mprt-independent",
    "random-logit": "random-logit",
    "pointing-game": "pointing-game",
    "relevance-mass": "relevance-mass",
    "data-randomization": "data-randomization",
}

DEFAULT_METRICS = ("deletion", "insertion", "mprt-cascading", "random-logit")
"""The metrics ``saliency-bench check`` computes unless told otherwise."""

LOCALISATION_METRICS = ("pointing-game", "relevance-mass")
"""Metrics that need ground-truth object masks."""

NETWORK_METRICS = ("data-randomization",)
"""Metrics that need networks trained for them (``run_checks(networks=...)``)."""

_CURVES = ("deletion", "insertion", "road-morf", "road-lerf")
_MPRT = ("mprt-cascading", "mprt-independent")
_MAP_METRICS = _CURVES + LOCALISATION_METRICS


def metric_name(name: str) -> str:
    """The registry name of a command-line or registry metric name ("mprt" -> "mprt-cascading").

    Raises ValueError naming the valid choices.
    """
    key = str(name).strip().lower()
    if key not in CLI_METRICS:
        raise ValueError(f"unknown metric {name!r}; choose from {', '.join(CLI_METRICS)}")
    return CLI_METRICS[key]


def statistics_for(metric: str) -> tuple[str, ...]:
    """Names a gate rule may read for ``metric`` besides ``"value"``.

    Curves: ``auc``. Randomization (mprt-*): ``last_step_<measure>`` (mean over images
    at the last step) and ``mean_<measure>`` (mean over steps and images) for each
    measure in :data:`~saliency_core.checks.similarity.SIMILARITIES`. random-logit:
    ``<measure>`` (mean over images). Localisation: ``mean``. data-randomization:
    ``margin``, ``permuted_<measure>`` and ``true_<measure>`` (means over images).
    """
    metric = metric_name(metric)
    if metric in _CURVES:
        return ("auc",)
    if metric in _MPRT:
        return tuple(f"{p}_{m}" for p in ("last_step", "mean") for m in SIMILARITIES)
    if metric == "random-logit":
        return tuple(SIMILARITIES)
    if metric == "data-randomization":
        return ("margin",) + tuple(f"{p}_{m}" for p in ("permuted", "true") for m in SIMILARITIES)
    return ("mean",)


@dataclass(frozen=True)
class CheckSettings:
    """Protocol settings of a check run; every cell records the ones it used.

    Attributes:
        deletion: Deletion-curve protocol (its ``chunk_size`` is replaced by the
            run's batch size).
        insertion: Insertion-curve protocol.
        road_fractions: Fractions of pixels removed at the ROAD curve points.
        road_noise: ROAD imputation noise, as a fraction of the input value range.
        curve_reduce: Channel reduction (``saliency_core.reduce``) of the maps the
            curve and localisation metrics rank.
        randomization_reduce: Channel reduction of the maps compared by the
            randomization tests; a signed one ("sum") makes "spearman" and
            "spearman_abs" differ, as in Adebayo et al.
        score: What the gradient methods differentiate: "logit" or "probability".
        options: Method options (SmoothGrad noise and samples, IG steps); their
            ``seed`` is replaced by the run seed.
        measures: Similarity measures of the randomization tests.
        step_maps_image: Index of the image whose maps at every randomization step
            are stored (artifact ``step_maps``), or None to store none.
    """

    deletion: CurveConfig = PRESETS["rise-deletion"]
    insertion: CurveConfig = PRESETS["rise-insertion"]
    road_fractions: tuple[float, ...] = ROAD_FRACTIONS
    road_noise: float = 0.01
    curve_reduce: str = "max_abs"
    randomization_reduce: str = "sum"
    score: str = "logit"
    options: MethodOptions = MethodOptions()
    measures: tuple[str, ...] = tuple(SIMILARITIES)
    step_maps_image: int | None = 0


@dataclass
class CheckResult:
    """One metric for one method on one model and data set (one ``check`` cell).

    Attributes:
        model, data, method, metric: The cell key (``metric`` is the registry name).
        status: "ok" or "failed".
        value: The metric's aggregate (see the module docstring), or None if failed.
        direction: "lower" or "higher": which values mean a better method.
        per_image: The per-image numbers behind ``value``, in image order.
        statistics: Further named aggregates (see :func:`statistics_for`).
        config: The protocol as run.
        reason: Why the metric failed (``status == "failed"``).
        seconds: Wall-clock seconds the metric took (None when read from the store
            without a recorded time).
        resumed: True when read back from the store instead of computed.
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

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> dict:
        """The store key ``{model, data, method, metric}``."""
        return {"model": self.model, "data": self.data, "method": self.method,
                "metric": self.metric}

    def statistic(self, name: str) -> float:
        """``value`` for "value", else ``statistics[name]``; KeyError naming the choices."""
        if name == "value":
            return self.value
        if name not in self.statistics:
            raise KeyError(f"{self.metric} has no statistic {name!r}; available: "
                           f"{', '.join(['value', *self.statistics])}")
        return self.statistics[name]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_cell(cls, cell) -> "CheckResult":
        """Read a stored ``check`` cell (:class:`saliency_core.store.Cell`)."""
        k, m = cell.key, cell.metrics or {}
        return cls(model=str(k.get("model")), data=str(k.get("data")), method=str(k.get("method")),
                   metric=str(k.get("metric")), status=cell.status, value=m.get("value"),
                   direction=str(m.get("direction", "")), per_image=list(m.get("per_image", [])),
                   statistics=dict(m.get("statistics", {})), config=dict(m.get("config", {})),
                   reason=cell.reason, seconds=m.get("seconds"), resumed=True)


@dataclass
class CheckReport:
    """All results of one :func:`run_checks` call.

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
        """The result for ``method`` and ``metric`` (CLI or registry name), or None."""
        metric = metric_name(metric)
        for r in self.results:
            if r.method == method and r.metric == metric:
                return r
        return None

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r.method for r in self.results))

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def table(self, method: str, control: str = "random") -> tuple[list[str], list[list[str]]]:
        """Headers and rows for one method: value, which way is better, the control's
        value and the margin over it (positive = better than the control), the spread
        over images, seconds, and the reason of a failed metric."""
        headers = ["metric", "value", "better", control, "margin", "per-image min..max",
                   "seconds", "status"]
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
            rows.append([r.metric, _fmt(r.value), r.direction, _fmt(cval),
                         _fmt(margin, "+.3f"), spread,
                         _fmt(r.seconds, ".1f"), status + (" (resumed)" if r.resumed else "")])
        return headers, rows

    def as_dict(self) -> dict:
        return {"model": self.model, "data": self.data, "seed": self.seed, "run_id": self.run_id,
                "settings": self.settings, "results": [r.as_dict() for r in self.results]}


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _settings_record(settings: CheckSettings, options: MethodOptions, *, variant, batch_size,
                     seed) -> dict:
    record = dataclasses.asdict(settings)
    record["options"] = dataclasses.asdict(options)
    record.update(variant=variant, batch_size=int(batch_size), seed=int(seed))
    return _jsonable(record)


# --- the metrics ------------------------------------------------------------------------
# Each returns (value, per_image, statistics, config, extra metrics, artifacts).

def _curve(metric, classifier, images, maps, *, settings, forward, batch_size, seed):
    from .curves import deletion_curve, insertion_curve
    from .road import road_curve

    if metric == "deletion":
        result = deletion_curve(classifier, images, maps, forward=forward,
                                config=dataclasses.replace(settings.deletion, chunk_size=batch_size))
    elif metric == "insertion":
        result = insertion_curve(classifier, images, maps, forward=forward,
                                 config=dataclasses.replace(settings.insertion, chunk_size=batch_size))
    else:
        order = "most-relevant-first" if metric == "road-morf" else "least-relevant-first"
        result = road_curve(classifier, images, maps, order=order, fractions=settings.road_fractions,
                            seed=seed, noise=settings.road_noise, chunk_size=batch_size,
                            forward=forward)
    value = float(result.mean_curve_auc)
    config = dict(result.config, reduce=settings.curve_reduce, value="area under the mean curve")
    extra = {"targets": result.targets.tolist(), "counters": _jsonable(result.counters)}
    artifacts = {"fractions": np.asarray(result.fractions, np.float64),
                 "curves": np.asarray(result.curves, np.float64)}
    return value, result.auc.tolist(), {"auc": value}, config, extra, artifacts


def _mprt(metric, classifier, images, method, *, settings, options, variant, batch_size, seed,
          device):
    from .randomization import mprt

    mode = metric.split("-", 1)[1]
    result = mprt(classifier, images, mode=mode, method=method, seed=seed, variant=variant,
                  batch_size=batch_size, measures=settings.measures,
                  reduce=settings.randomization_reduce, score=settings.score, options=options,
                  device=device, keep_maps=settings.step_maps_image is not None)
    sim = np.asarray(result.similarity, np.float64)  # (steps, measures, N)
    main = "spearman_abs" if "spearman_abs" in result.measures else result.measures[0]
    j = result.measures.index(main)
    per_image = sim[-1, j] if mode == "cascading" else sim[:, j].mean(axis=0)
    statistics = {}
    for i, m in enumerate(result.measures):
        statistics[f"last_step_{m}"] = float(sim[-1, i].mean())
        statistics[f"mean_{m}"] = float(sim[:, i].mean())
    config = {"mode": mode, "reduce": settings.randomization_reduce, "score": settings.score,
              "variant": variant, "measures": list(result.measures), "seed": int(seed),
              "steps": len(result.blocks), "value_measure": main,
              "value": (f"mean over images of {main} between the trained and the fully "
                        "randomized model (last cascading step)" if mode == "cascading" else
                        f"mean over steps and images of {main}"),
              "initialisation": "each layer's own Keras initializer, seeded per variable "
                                "from the run seed (layer_seed)",
              "method_options": dataclasses.asdict(options)}
    extra = {"layers": list(result.blocks), "measures": list(result.measures),
             "layer_names": result.layers, "targets": result.targets.tolist(),
             "traces": int(result.traces), "skipped": list(result.skipped),
             "timings": _jsonable(result.timings)}
    artifacts = {"similarity": sim.mean(axis=-1), "similarity_per_image": sim}
    if result.maps is not None and settings.step_maps_image is not None:
        index = min(int(settings.step_maps_image), result.maps.shape[1] - 1)
        artifacts["step_maps"] = np.asarray(result.maps[:, index], np.float32)
        config["step_maps_image"] = index
    return float(per_image.mean()), per_image.tolist(), statistics, config, extra, artifacts


def _random_logit(classifier, images, method, *, settings, options, variant, batch_size, seed,
                  device):
    from .randomization import random_logit

    result = random_logit(classifier, images, seed=seed, method=method, variant=variant,
                          batch_size=batch_size, measures=settings.measures,
                          reduce=settings.randomization_reduce, score=settings.score,
                          options=options, device=device)
    sim = np.asarray(result.similarity, np.float64)  # (measures, N)
    main = "ssim" if "ssim" in result.measures else result.measures[0]
    per_image = sim[result.measures.index(main)]
    statistics = {m: float(sim[i].mean()) for i, m in enumerate(result.measures)}
    config = {"reduce": settings.randomization_reduce, "score": settings.score, "variant": variant,
              "measures": list(result.measures), "seed": int(seed), "value_measure": main,
              "value": f"mean over images of {main} between the top-1 map and a random "
                       "other class's map",
              "other_class": "uniform over the K-1 classes that are not the top-1, "
                             "np.random.default_rng(seed)",
              "method_options": dataclasses.asdict(options)}
    extra = {"measures": list(result.measures), "targets": result.targets.tolist(),
             "others": result.others.tolist()}
    artifacts = {"logit_similarity": sim}
    if settings.step_maps_image is not None:
        index = min(int(settings.step_maps_image), result.maps.shape[1] - 1)
        artifacts["logit_maps"] = np.asarray(result.maps[:, index], np.float32)
    return float(per_image.mean()), per_image.tolist(), statistics, config, extra, artifacts


def _data_randomization(networks, images, method, *, settings, variant, batch_size, seed):
    from .data_randomization import compare_networks

    result = compare_networks(networks, images, seed=seed, method=method, variant=variant,
                              reduce=settings.randomization_reduce, measures=settings.measures,
                              batch_size=batch_size)
    main = "spearman_abs" if "spearman_abs" in result.measures else result.measures[0]
    j = result.measures.index(main)
    per_image = np.asarray(result.true_vs_permuted[j], np.float64)
    statistics = {}
    for m, (permuted, true) in result.mean().items():
        statistics[f"permuted_{m}"], statistics[f"true_{m}"] = permuted, true
    statistics["margin"] = statistics[f"true_{main}"] - statistics[f"permuted_{main}"]
    config = {"reduce": settings.randomization_reduce, "variant": variant,
              "measures": list(result.measures), "seed": int(seed), "value_measure": main,
              "value": f"mean over images of {main} between the true-label and the "
                       "permuted-label network's maps",
              "targets": "the true-label network's top-1, for all three networks",
              "training": {"epochs": networks.epochs, "seeds": dict(networks.seeds),
                           "accuracy": dict(networks.accuracy)}}
    extra = {"measures": list(result.measures), "targets": result.targets.tolist(),
             "passed": bool(result.passed),
             "true_vs_true": np.asarray(result.true_vs_true[j], np.float64).tolist()}
    artifacts = {"data_similarity_permuted": np.asarray(result.true_vs_permuted, np.float64),
                 "data_similarity_true": np.asarray(result.true_vs_true, np.float64)}
    return float(per_image.mean()), per_image.tolist(), statistics, config, extra, artifacts


def _localisation(metric, maps, masks, *, settings):
    values = METRICS[metric].fn(np.abs(maps), masks).astype(np.float64)
    value = float(values.mean())
    config = {"reduce": settings.curve_reduce, "map": "absolute value of the reduced map",
              "value": "mean over images" + (" (hit rate)" if metric == "pointing-game" else "")}
    return value, values.tolist(), {"mean": value}, config, {}, {}


# --- the runner ---------------------------------------------------------------------------

def run_checks(classifier, images, *, methods: Sequence[str], metrics: Sequence[str], seed: int,
               data_name: str, store=None, run_id: str | None = None, masks=None,
               variant: str = "xla", batch_size: int = 16, device: str | None = None,
               settings: CheckSettings = CheckSettings(), image_names: Sequence[str] | None = None,
               progress: Callable[[str], None] | None = None, networks=None) -> CheckReport:
    """Compute each metric for each method; record each result as a ``check`` cell.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier` (or a Keras
            model, taken with its inputs as given).
        images: (N, H, W, C) in the classifier's input space.
        methods: Saliency methods and controls ("gradient", "smoothgrad", "edge", "random", ...).
        metrics: Metric names (command-line or registry names, see :data:`CLI_METRICS`).
        seed: Run seed: method noise (SmoothGrad, the random control), the randomized
            weights, the random-logit class draw and the ROAD noise all derive from it.
        data_name: Name of the data set, the ``data`` of every cell key.
        store: A :class:`~saliency_core.store.ResultStore`; None records nothing.
        run_id: The store run to record into (required with ``store``).
        masks: (N, H, W) bool ground-truth object masks; required by the localisation
            metrics.
        variant: Gradient and forward-pass variant ("eager", "function", "xla"); the maps
            are the same, the speed is not.
        batch_size: Images per compiled gradient call and perturbed images per forward call.
        device: "cpu", "gpu", "gpu:N" or None.
        settings: Protocol settings.
        image_names: Names of the images, recorded in each cell's config.
        progress: Called with one line per finished metric.
        networks: A :class:`~.data_randomization.RandomizationNetworks`; required by
            ``data-randomization`` (the images must suit those networks).

    Returns:
        A :class:`CheckReport`, results in (method, metric) order.

    Raises:
        ValueError: unknown method or metric, localisation metrics without masks,
            images and masks that do not match, ``data-randomization`` without
            ``networks``, or ``store`` without ``run_id``.
    """
    from ..controls import CONTROLS
    from ..explainer import Explainer
    from ..methods import METHODS
    from ..models.classifier import as_classifier

    classifier = as_classifier(classifier)
    names = list(dict.fromkeys(metric_name(m) for m in metrics))
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS and m not in CONTROLS]
    if unknown or not methods:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                         f"choose from {', '.join([*METHODS, *CONTROLS])}")
    if not names:
        raise ValueError("no metrics given")
    if store is not None and run_id is None:
        raise ValueError("run_id is required when recording into a store")
    images = np.asarray(images, dtype=classifier.dtype)
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        if masks.shape != images.shape[:3]:
            raise ValueError(f"masks must be (N, H, W) = {images.shape[:3]}, got {masks.shape}")
    elif any(m in LOCALISATION_METRICS for m in names):
        raise ValueError(f"{', '.join(m for m in names if m in LOCALISATION_METRICS)} need "
                         "ground-truth object masks (the synthetic data set has them)")
    if networks is None and any(m in NETWORK_METRICS for m in names):
        raise ValueError("data-randomization needs networks trained on true and permuted labels "
                         "(run_checks(networks=train_randomization_networks(...)); on the command "
                         "line: --model synthetic-cnn --data synthetic)")

    options = dataclasses.replace(settings.options, seed=int(seed))
    record = _settings_record(settings, options, variant=variant, batch_size=batch_size, seed=seed)
    model, say = classifier.name, progress or (lambda line: None)
    report = CheckReport(model=model, data=data_name, seed=int(seed), results=[], run_id=run_id,
                         settings=record)
    explainer = forward = None
    total, done = len(methods) * len(names), 0

    for method in methods:
        maps, maps_error = None, None
        for metric in names:
            done += 1
            info = METRICS[metric]
            key = {"model": model, "data": data_name, "method": method, "metric": metric}
            if store is not None and store.has_cell(run_id, "check", key):
                cell = next(c for c in store.cells(run_id, kind="check") if c.key == key)
                report.results.append(CheckResult.from_cell(cell))
                say(f"[{done}/{total}] {method} {metric}: already in run {run_id}, skipped")
                continue
            start = time.perf_counter()
            try:
                if metric in _MAP_METRICS:
                    if maps is None and maps_error is None:
                        if explainer is None:
                            explainer = Explainer(classifier, variant=variant, score=settings.score,
                                                  batch_size=batch_size, device=device)
                        try:
                            maps = explainer.explain(images, method=method,
                                                     reduce=settings.curve_reduce,
                                                     options=options).maps
                        except Exception as exc:  # every map-based metric of this method fails
                            maps_error = exc
                    if maps_error is not None:
                        raise RuntimeError(f"computing the {method} maps failed: "
                                           f"{type(maps_error).__name__}: {maps_error}")
                if metric in _CURVES:
                    if forward is None:
                        from ..gradients import build_forward_fn

                        forward = build_forward_fn(classifier, variant=variant)
                    out = _curve(metric, classifier, images, maps, settings=settings,
                                 forward=forward, batch_size=batch_size, seed=seed)
                elif metric in _MPRT:
                    out = _mprt(metric, classifier, images, method, settings=settings,
                                options=options, variant=variant, batch_size=batch_size,
                                seed=seed, device=device)
                elif metric == "random-logit":
                    out = _random_logit(classifier, images, method, settings=settings,
                                        options=options, variant=variant, batch_size=batch_size,
                                        seed=seed, device=device)
                elif metric in LOCALISATION_METRICS:
                    out = _localisation(metric, maps, masks, settings=settings)
                elif metric in NETWORK_METRICS:
                    out = _data_randomization(networks, images, method, settings=settings,
                                              variant=variant, batch_size=batch_size, seed=seed)
                else:
                    raise ValueError(f"metric {metric!r} is not run by run_checks")
            except Exception as exc:  # recorded as a failed cell; the other metrics go on
                seconds = time.perf_counter() - start
                reason = f"{type(exc).__name__}: {exc}"
                log.debug("%s %s failed", method, metric, exc_info=True)
                result = CheckResult(model=model, data=data_name, method=method, metric=metric,
                                     status="failed", value=None, direction=info.direction,
                                     config=record, reason=reason, seconds=seconds)
                if store is not None:
                    store.record_cell(run_id, "check", key, status="failed", reason=reason,
                                      metrics={"direction": info.direction, "config": record,
                                               "seconds": seconds})
                report.results.append(result)
                say(f"[{done}/{total}] {method} {metric}: FAILED after {seconds:.1f} s: {reason}")
                continue
            value, per_image, statistics, config, extra, artifacts = out
            seconds = time.perf_counter() - start
            config = _jsonable({**config, "run": record, "method": method,
                                "images": list(image_names) if image_names is not None
                                else len(images), "reference": info.reference})
            result = CheckResult(model=model, data=data_name, method=method, metric=metric,
                                 status="ok", value=value, direction=info.direction,
                                 per_image=_jsonable(per_image), statistics=statistics,
                                 config=config, seconds=seconds)
            if store is not None:
                store.record_cell(run_id, "check", key, status="ok", artifacts=artifacts,
                                  metrics=_jsonable({"value": value, "direction": info.direction,
                                                     "per_image": per_image, "config": config,
                                                     "statistics": statistics, "seconds": seconds,
                                                     **extra}))
            report.results.append(result)
            say(f"[{done}/{total}] {method} {metric}: {value:.4f} ({info.direction} is better) "
                f"in {seconds:.1f} s")
    return report


def selected_metrics(specs: Iterable[str] | None, *, has_masks: bool) -> list[str]:
    """Registry names for ``specs``; None gives :data:`DEFAULT_METRICS` plus the
    localisation metrics when the data has masks."""
    if specs is None:
        return list(DEFAULT_METRICS) + (list(LOCALISATION_METRICS) if has_masks else [])
    return list(dict.fromkeys(metric_name(s) for s in specs))
