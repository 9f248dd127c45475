"""``check`` (sanity-check metrics per method) and ``gate`` (a policy's verdict, exit 0/1/2).

Both load a model and a data set, start a run in the results store (suite "check" or
"gate"), record one ``check`` cell per (method, metric) as it finishes, and finish
the run. ``gate`` also records a ``gate`` cell. Data: ``photos`` (the bundled photos),
``synthetic`` (generated images with ground-truth object masks, at the model's input
size) or an image folder. ``--model synthetic-cnn`` is the small CNN trained on the
synthetic set.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .commands_harness import default_store_path
from .common import add_model_arguments, load_classifier, load_images
from .main import CliError

__all__ = ["register", "SYNTHETIC_CNN", "DEFAULT_METHODS"]

SYNTHETIC_CNN = "synthetic-cnn"
DATA_RANDOMIZATION_EPOCHS = 4  # as the synthetic CNN itself (data.synthetic.load_synthetic_cnn)
DEFAULT_METHODS = ("gradient", "smoothgrad", "edge", "random")
_SYNTHETIC_IMAGES = 16
# Variant default: on CPU the "function" variant of EfficientNet-Lite0 measured about
# 20x faster than "xla" here (forward 13 vs 226 ms/image at batch 8, 2 shared cores;
# XLA's CPU depthwise convolutions), and the variants give the same maps.
_DEFAULT_VARIANT = "function"
# Curve steps default: RISE moves 224 px per step at 224 x 224 (224 steps). Every 4th
# point of those curves is the 56-step curve (same pixels moved), and on Lite0 with the
# 7 photos its area differed by at most 0.001 for each of gradient, smoothgrad, edge and
# random (margins over random were 0.015 and more), for a quarter of the forward passes.
_CURVE_STEPS = 56


def _common_arguments(p) -> None:
    add_model_arguments(p)
    p.add_argument("--data", required=True, metavar="photos|synthetic|DIR",
                   help="'photos' (bundled), 'synthetic' (images with object masks, at the "
                        "model's input size), or an image folder")
    p.add_argument("--images", type=int, default=None, metavar="N",
                   help=f"use the first N images (default: all photos or folder images; "
                        f"{_SYNTHETIC_IMAGES} synthetic)")
    p.add_argument("--data-seed", type=int, default=1, metavar="S",
                   help="seed of the synthetic images (the synthetic CNN trains on seed 0)")
    p.add_argument("--seed", type=int, default=0,
                   help="run seed: SmoothGrad noise, the random map, randomized weights, "
                        "the random-logit class")
    p.add_argument("--variant", default=_DEFAULT_VARIANT, choices=("eager", "function", "xla"),
                   help=f"gradient and forward variant (default: {_DEFAULT_VARIANT}; same maps, "
                        "and faster than xla on CPU for depthwise-convolution models)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N",
                   help="images per compiled gradient call and per scored perturbation chunk")
    p.add_argument("--curve-steps", type=int, default=_CURVE_STEPS, metavar="N",
                   help=f"deletion/insertion steps: H*W/N pixels moved per step (default: "
                        f"{_CURVE_STEPS}, i.e. 896 px at 224x224; 224 is RISE's published 224 px "
                        "per step, about 4x slower)")
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: TensorFlow's choice)")
    p.add_argument("--store", type=Path, default=None, metavar="PATH",
                   help=f"results store file (default: {default_store_path()})")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")


def register(sub) -> None:
    """Add ``check`` and ``gate`` to the ``saliency-bench`` parser."""
    from ..checks.runner import CLI_METRICS

    p = sub.add_parser(
        "check", help="sanity-check saliency methods: deletion, insertion, randomization, ...",
        description="Compute each metric for each method on one model and data set, record each "
                    "result in the results store as it finishes, and print a table per method "
                    "(with the random control's value beside each metric when it was run). "
                    "--model synthetic-cnn is the small CNN trained on the synthetic set. "
                    "Exit 0; 2 on an input error or when a metric could not be computed "
                    "(its reason is printed and stored).")
    _common_arguments(p)
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS), metavar="M,M",
                   help=f"methods and controls (default: {','.join(DEFAULT_METHODS)})")
    p.add_argument("--metrics", default=None, metavar="M,M",
                   help=f"any of {', '.join(CLI_METRICS)} (default: deletion,insertion,mprt,"
                        "random-logit, plus pointing-game,relevance-mass on synthetic data)")
    p.set_defaults(func=cmd_check, uses_tensorflow=True)

    p = sub.add_parser(
        "gate", help="pass/fail one method against a policy (exit 0 pass, 1 fail, 2 error)",
        description="Compute the metrics a policy's rules read for one method (and for the "
                    "random control when a rule compares against it), print each rule with its "
                    "measured value, and exit 0 when every rule holds, 1 when one fails, 2 on an "
                    "error (including a rule that could not be measured). --model synthetic-cnn "
                    "is the small CNN trained on the synthetic set.")
    _common_arguments(p)
    p.add_argument("--policy", default="default", metavar="POLICY.toml",
                   help="policy file, or a packaged policy name (default: default)")
    p.add_argument("--method", default="gradient", help="the method to gate (default: gradient)")
    p.set_defaults(func=cmd_gate, uses_tensorflow=True)


# --- loading ------------------------------------------------------------------------------

@dataclass
class _Data:
    name: str
    images: np.ndarray
    names: list[str]
    masks: np.ndarray | None


def _split(text: str) -> list[str]:
    return [v.strip() for v in str(text).split(",") if v.strip()]


def _synthetic_cnn():
    """The small CNN trained on the synthetic set (trained once, then cached)."""
    from ..data.synthetic import load_synthetic_cnn
    from ..models.classifier import as_classifier

    return as_classifier(load_synthetic_cnn(), name=SYNTHETIC_CNN)


def _classifier(args):
    if args.model == SYNTHETIC_CNN and not Path(args.model).exists():
        return _synthetic_cnn()
    return load_classifier(args)


def _check_options(args) -> None:
    """Reject bad numbers before any model is loaded."""
    for option, value in (("--images", args.images), ("--curve-steps", args.curve_steps),
                          ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise CliError(f"{option} must be >= 1, got {value}")


def _load_data(args, classifier) -> _Data:
    if args.data == "synthetic":
        from ..data.synthetic import make_synthetic

        height, width, channels = classifier.input_shape
        if height != width or channels != 3:
            raise CliError(f"--data synthetic makes square RGB images; model {classifier.name!r} "
                           f"takes {classifier.input_shape}")
        try:
            data = make_synthetic(args.images or _SYNTHETIC_IMAGES, image_size=height,
                                  seed=args.data_seed)
        except ValueError as exc:
            raise CliError(f"--data synthetic: {exc}") from None
        # The set is RGB in [0, 1]; a raw-input classifier takes RGB in [0, 255].
        images = data.images * (255.0 if classifier.raw_input else 1.0)
        names = [f"synthetic-{args.data_seed}-{i}-{data.class_names[k]}"
                 for i, k in enumerate(data.labels)]
        return _Data("synthetic", images.astype(classifier.dtype), names, data.masks)
    if args.data != "photos" and not Path(args.data).is_dir():
        raise CliError(f"--data {args.data!r} is not 'photos', 'synthetic' or a folder")
    if not classifier.raw_input:
        raise CliError(f"model {classifier.name!r} takes its inputs as given, so photos cannot be "
                       "resized for it; pass --preprocessing FAMILY, or use --data synthetic")
    image_set = load_images([args.data])
    try:
        images = classifier.prepare(image_set.images[:args.images])
    except (ValueError, TypeError) as exc:
        raise CliError(f"cannot prepare the images of {args.data!r} for {classifier.name}: {exc}") from None
    return _Data(args.data, images, list(image_set.names[:args.images]), None)


def _settings(args, classifier):
    from ..checks.runner import CheckSettings

    height, width = classifier.input_shape[:2]
    pixels = max(1, round(height * width / args.curve_steps))
    settings = CheckSettings()
    return dataclasses.replace(
        settings, deletion=dataclasses.replace(settings.deletion, pixels_per_step=pixels),
        insertion=dataclasses.replace(settings.insertion, pixels_per_step=pixels))


def _open_store(path: Path | None):
    from ..store import ResultStore, StoreError

    try:
        return ResultStore(path or default_store_path())
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _networks(args, classifier, data, metrics):
    """The data randomization test's three networks, when a metric needs them: the
    synthetic CNN's architecture and training set, trained on true and permuted labels."""
    from ..checks.runner import NETWORK_METRICS, metric_name

    wanted = [m for m in metrics if metric_name(m) in NETWORK_METRICS]
    if not wanted:
        return None
    if classifier.name != SYNTHETIC_CNN or data.name != "synthetic":
        raise CliError(f"{', '.join(wanted)} retrains the model on true and on permuted labels, "
                       f"which this project can do for the synthetic CNN only: use --model "
                       f"{SYNTHETIC_CNN} --data synthetic (got --model {classifier.name} "
                       f"--data {data.name})")
    from ..checks.data_randomization import train_randomization_networks
    from ..data.synthetic import TRAIN_SIZE, make_synthetic

    _progress(f"data randomization: training 3 networks on make_synthetic({TRAIN_SIZE}, seed=0) "
              f"(true labels twice, permuted labels once; about a minute on 2 CPU cores)")
    return train_randomization_networks(make_synthetic(TRAIN_SIZE, seed=0), seed=args.seed,
                                        epochs=DATA_RANDOMIZATION_EPOCHS)


def _run(store, run_id, args, classifier, data, *, methods, metrics, settings, networks=None):
    from ..checks.runner import run_checks

    try:
        return run_checks(classifier, data.images, methods=methods, metrics=metrics,
                          seed=args.seed, data_name=data.name, store=store, run_id=run_id,
                          masks=data.masks, variant=args.variant, batch_size=args.batch_size,
                          device=args.device, settings=settings, image_names=data.names,
                          progress=_progress, networks=networks)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _run_config(args, classifier, data, **extra) -> dict:
    return {"command": extra.pop("command"), "model": classifier.name,
            "weights": classifier.weights, "data": data.name, "images": data.names,
            "seed": args.seed, "variant": args.variant, "batch_size": args.batch_size,
            "curve_steps": args.curve_steps, "data_seed": args.data_seed, **extra}


class _Run:
    """A store run that is finished whatever happens: complete, interrupted or failed."""

    def __init__(self, store, suite, config, seed):
        self.store, self.suite, self.config, self.seed = store, suite, config, seed

    def __enter__(self) -> str:
        self.run_id = self.store.start_run(suite=self.suite, config=self.config, seed=self.seed)
        print(f"run {self.run_id} ({self.suite}) in {self.store.path}", file=sys.stderr)
        return self.run_id

    def __exit__(self, kind, exc, tb) -> bool:
        status = ("complete" if kind is None else
                  "interrupted" if issubclass(kind, KeyboardInterrupt) else "failed")
        self.store.finish_run(self.run_id, status=status)
        return False


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _write_json(path: Path | None, doc: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n", encoding="utf-8")
    print(f"JSON written to {path}")


def _check_masks(metrics, data: _Data) -> None:
    from ..checks.runner import LOCALISATION_METRICS

    needs = [m for m in metrics if m in LOCALISATION_METRICS]
    if needs and data.masks is None:
        raise CliError(f"{', '.join(needs)} need ground-truth object masks; {data.name!r} has "
                       "none (use --data synthetic)")


def _print_report(report, classifier, data, args) -> None:
    from ..harness.compare import print_table

    print(f"model {classifier.name} (weights: {classifier.weights}); data {data.name}, "
          f"{len(data.images)} images; seed {args.seed}, variant {args.variant}; run {report.run_id}")
    for method in report.methods:
        headers, rows = report.table(method)
        print()
        print_table(headers, rows, title=f"{method}")
        result = report.get(method, "data-randomization")
        if result is not None and result.ok:  # its reference level is not the random control
            true = result.statistic("margin") + result.value
            below = result.statistic("margin") > 0
            print(f"data-randomization: two true-label networks agree at {true:.3f} "
                  f"({result.config.get('value_measure', 'spearman_abs')}); "
                  f"{'below' if below else 'NOT below'} it, the maps "
                  f"{'depend' if below else 'do not depend'} on the labels")


# --- commands -------------------------------------------------------------------------------

def cmd_check(args) -> int:
    """Run the metrics for every method; print a table per method."""
    from ..checks.runner import metric_name, selected_metrics

    methods = _split(args.methods)
    try:
        metrics = None if args.metrics is None else [metric_name(m) for m in _split(args.metrics)]
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _check_known_methods(methods)
    _check_options(args)
    classifier = _classifier(args)
    settings = _settings(args, classifier)
    data = _load_data(args, classifier)
    metrics = selected_metrics(metrics, has_masks=data.masks is not None)
    _check_masks(metrics, data)
    networks = _networks(args, classifier, data, metrics)
    config = _run_config(args, classifier, data, command="check", methods=methods, metrics=metrics)
    with _open_store(args.store) as store:
        with _Run(store, "check", config, args.seed) as run_id:
            report = _run(store, run_id, args, classifier, data, methods=methods, metrics=metrics,
                          settings=settings, networks=networks)
    _print_report(report, classifier, data, args)
    _write_json(args.json, report.as_dict())
    if report.failed:
        raise CliError(f"{len(report.failed)} check(s) could not be computed: " + "; ".join(
            f"{r.method} {r.metric} ({r.reason})" for r in report.failed))
    return 0


def _check_known_methods(methods: list[str]) -> None:
    from ..controls import CONTROLS
    from ..methods import METHODS

    unknown = [m for m in methods if m not in METHODS and m not in CONTROLS]
    if unknown or not methods:
        raise CliError(f"unknown method(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                       f"choose from {', '.join([*METHODS, *CONTROLS])}")


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _print_gate(result, policy, classifier, data) -> None:
    print(f"gate: policy {policy.name} ({policy.source}) on {classifier.name} / {data.name}, "
          f"method {result.method}")
    for r in result.rules:
        rule = r.rule
        verdict = "PASS" if r.passed else ("ERROR" if r.error else "FAIL")
        if rule.compare_to:
            measured = (f"{rule.metric}.{rule.statistic} - {rule.compare_to} = {_fmt(r.value)} "
                        f"({result.method} {_fmt(r.method_value)}, {rule.compare_to} "
                        f"{_fmt(r.control_value)})")
        else:
            measured = f"{rule.metric}.{rule.statistic} = {_fmt(r.value)}"
        print(f"  {verdict:<5} {rule.name}: {measured}, needs {rule.op} {rule.threshold:g}")
        if r.error:
            print(f"        error: {r.error}")
        print(f"        why: {rule.why}")
    if result.passed:
        print(f"verdict: PASS ({len(result.rules)} of {len(result.rules)} rules hold)")
    else:
        bad = [r.rule.name for r in result.rules if not r.passed]
        print(f"verdict: FAIL ({len(bad)} of {len(result.rules)} rules do not hold: {', '.join(bad)})")


def cmd_gate(args) -> int:
    """Evaluate one method against a policy; exit 0 pass, 1 fail, 2 error."""
    from ..checks.gate import PolicyError, evaluate_policy, load_policy

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        raise CliError(str(exc)) from None
    _check_known_methods([args.method])
    _check_options(args)
    classifier = _classifier(args)
    settings = _settings(args, classifier)
    data = _load_data(args, classifier)
    _check_masks(policy.metrics, data)
    networks = _networks(args, classifier, data, [*policy.metrics, *policy.control_metrics])
    control = "random"
    config = _run_config(args, classifier, data, command="gate", method=args.method,
                         policy={"name": policy.name, "source": policy.source,
                                 "rules": [dataclasses.asdict(r) for r in policy.rules]})
    with _open_store(args.store) as store:
        with _Run(store, "gate", config, args.seed) as run_id:
            report = _run(store, run_id, args, classifier, data, methods=[args.method],
                          metrics=policy.metrics, settings=settings, networks=networks)
            if policy.control_metrics and args.method != control:
                extra = _run(store, run_id, args, classifier, data, methods=[control],
                             metrics=policy.control_metrics, settings=settings, networks=networks)
                report.results.extend(extra.results)
            result = evaluate_policy(policy, report, method=args.method, control=control)
            key = {"model": classifier.name, "data": data.name, "policy": policy.name}
            status, reason = "ok", None
            if result.errors:
                status = "failed"
                reason = "; ".join(f"{r.rule.name}: {r.error}" for r in result.errors)
            store.record_cell(run_id, "gate", key, status=status, reason=reason,
                              metrics={**result.as_dict(), "policy_source": policy.source})
    _print_gate(result, policy, classifier, data)
    _write_json(args.json, {"gate": {"policy": policy.name, "source": policy.source,
                                     "model": classifier.name, "data": data.name,
                                     **result.as_dict()},
                            "checks": report.as_dict(), "run_id": run_id})
    if result.errors:
        print(f"saliency-bench: error: {len(result.errors)} rule(s) could not be measured: "
              + "; ".join(f"{r.rule.name}: {r.error}" for r in result.errors), file=sys.stderr)
    return result.exit_code
