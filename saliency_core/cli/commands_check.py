"""``check`` (sanity-check metrics per method) and ``gate`` (a policy's verdict, exit 0/1/2).

Both load a model and a data set, start a run in the results store (suite "check" or
"gate"), record one ``check`` cell per (method, metric) as it finishes, and finish
the run. ``gate`` also records a ``gate`` cell. Data: ``photos`` (the bundled photos),
``synthetic`` (generated images with ground-truth object masks, at the model's input
size), an image folder, a video file or ``video`` (the bundled video, with the moving
object's masks; frames sampled with ``--fps`` and ``--max-frames``). ``--model
synthetic-cnn`` is the small CNN trained on the synthetic set. The choices of
``--methods`` and ``--metrics`` come from the registries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

from ..checks.settings import DEFAULT_BATCH_SIZE, DEFAULT_CURVE_STEPS, DEFAULT_SYNTHETIC_IMAGES
from .check_progress import CheckProgress
from .commands_harness import default_store_path
from .common import (
    add_model_arguments,
    add_variant_arguments,
    add_video_arguments,
    check_video_arguments,
    resolve_variant,
)
from .errors import CliError
from .runs import open_store, store_run, write_json

__all__ = ["register"]

DATA_RANDOMIZATION_EPOCHS = 4  # as the synthetic CNN itself (data.synthetic_cnn.load_synthetic_cnn)


def _common_arguments(p) -> None:
    add_model_arguments(p, required=False)  # required unless --resume (checked in _prepare)
    p.add_argument(
        "--data",
        default=None,
        metavar="photos|synthetic|video|DIR|LIST.txt|VIDEO",
        help="'photos' (bundled), 'synthetic' (images with object masks, at the "
        "model's input size), an image folder, a video file (.mp4, .avi, .mov, "
        ".mkv, .webm, .gif) or 'video' (the bundled video, with the moving "
        "object's masks)",
    )
    p.add_argument(
        "--images",
        type=int,
        default=None,
        metavar="N",
        help=f"use the first N images (default: all photos or folder images; "
        f"{DEFAULT_SYNTHETIC_IMAGES} synthetic)",
    )
    p.add_argument(
        "--data-seed",
        type=int,
        default=1,
        metavar="S",
        help="seed of the synthetic images (the synthetic CNN trains on seed 0)",
    )
    add_video_arguments(p)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="run seed: method noise, the random map, randomized weights, the random-logit class",
    )
    add_variant_arguments(p, what="gradient and forward")
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="images per compiled gradient call and per scored perturbation chunk",
    )
    p.add_argument(
        "--curve-steps",
        type=int,
        default=DEFAULT_CURVE_STEPS,
        metavar="N",
        help="deletion/insertion steps: H*W/N pixels moved per step (RISE's published "
        "protocol is 224 at 224x224, about 4x slower)",
    )
    p.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="METHOD.OPTION=VALUE",
        help="a method's option, e.g. smoothgrad.samples=50 (repeatable; "
        "'list methods' shows each method's options)",
    )
    p.add_argument(
        "--metric-setting",
        action="append",
        default=[],
        metavar="METRIC.SETTING=VALUE",
        help="a metric's setting, e.g. smprt.samples=10 (repeatable; 'list metrics' "
        "shows each metric's settings)",
    )
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: TensorFlow's choice)")
    p.add_argument(
        "--chunk-images",
        type=int,
        default=64,
        metavar="N",
        help="images per chunk: the unit of work, of resuming and of memory (default 64)",
    )
    p.add_argument(
        "--executor",
        default="local",
        choices=("local", "ray"),
        help="where chunks run: this process (default) or a Ray cluster",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join (default: start a local one); e.g. auto or ray://host:10001",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="Ray workers (default: one per GPU, else one per 2 CPUs)",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue a killed or interrupted run (same settings, from its store): "
        "finished chunks are kept, the rest is computed",
    )
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"results store file (default: {default_store_path()})",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")


def register(sub) -> None:
    """Add ``check`` and ``gate`` to the ``saliency-bench`` parser."""
    p = sub.add_parser(
        "check",
        help="sanity-check saliency methods: deletion, insertion, randomization, ...",
        description="Compute each metric for each method on one model and data set, record each "
        "result in the results store as it finishes, and print a table per method "
        "(with the chance baseline's value beside each metric when it was run). "
        "Exit 0; 2 on an input error or when a metric could not be computed "
        "(its reason is printed and stored).",
    )
    _common_arguments(p)
    p.add_argument(
        "--methods",
        default=None,
        metavar="M,M",
        help="methods and controls (default: the registry's check defaults; 'list methods')",
    )
    p.add_argument(
        "--metrics",
        default=None,
        metavar="M,M",
        help="metrics (default: the registry's defaults, plus the localisation "
        "metrics on synthetic data; 'list metrics')",
    )
    p.set_defaults(func=cmd_check, uses_tensorflow=True)

    p = sub.add_parser(
        "gate",
        help="decide one method against a policy (exit 0 pass, 1 fail, 3 inconclusive, 2 error)",
        description="Compute the metrics a policy's rules read for one method (and for a "
        "control when a rule compares against it), print each rule with its "
        "measured value and 95%% confidence interval over images, and exit 0 when "
        "every rule passes (its whole interval on the required side), 1 when one "
        "fails (its whole interval on the wrong side), 3 when one is inconclusive "
        "(the interval straddles the threshold, or the maps cannot decide it: the "
        "number of images likely to decide it is printed), 2 on an error.",
    )
    _common_arguments(p)
    p.add_argument(
        "--policy",
        default="default",
        metavar="POLICY.toml",
        help="policy file, or a packaged policy name (default: default)",
    )
    p.add_argument(
        "--method", default=None, help="the method to gate (default: the registry's primary method)"
    )
    p.set_defaults(func=cmd_gate, uses_tensorflow=True)


def _split(text: str) -> list[str]:
    return [v.strip() for v in str(text).split(",") if v.strip()]


def _prepare(args):
    """Options checked before any model loads, then the classifier, data and settings."""
    from ..checks.settings import CheckSettings, with_curve_steps
    from ..data.check_data import load_check_data, load_check_model
    from ..methods.base import parse_method_options
    from ..metrics.base import parse_metric_settings
    from ..models.user import UnsafeModelError
    from ..models.weights import WeightsUnavailableError

    for option in ("model", "data"):
        if not getattr(args, option):
            raise CliError(f"--{option} is required (unless --resume RUN)")
    for option, value in (
        ("--images", args.images),
        ("--curve-steps", args.curve_steps),
        ("--batch-size", args.batch_size),
        ("--chunk-images", args.chunk_images),
    ):
        if value is not None and value < 1:
            raise CliError(f"{option} must be >= 1, got {value}")
    check_video_arguments(args)
    try:
        options = parse_method_options(args.method_option)
        metric_settings = parse_metric_settings(args.metric_setting)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        classifier = load_check_model(
            args.model, weights=args.weights, preprocessing=args.preprocessing, unsafe=args.unsafe
        )
    except (WeightsUnavailableError, UnsafeModelError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    try:
        data = load_check_data(
            args.data,
            classifier,
            images=args.images,
            data_seed=args.data_seed,
            fps=args.fps,
            max_frames=args.max_frames,
        )
    except (ValueError, FileNotFoundError, ImportError) as exc:
        raise CliError(str(exc)) from None
    settings = with_curve_steps(
        CheckSettings(method_options=options, metric_settings=metric_settings),
        classifier.input_shape,
        args.curve_steps,
    )
    return classifier, data, settings


def _choose_variant(args, classifier) -> None:
    """``--variant auto``: measured (or cached) once every input is known to be good."""
    from ..harness.autovariant import CHECK_CALLS

    resolve_variant(args, classifier, calls=CHECK_CALLS)


def _networks(args, classifier, data, metrics):
    """Trained networks when a metric needs them: the synthetic CNN's architecture and
    training set, trained on true and permuted labels."""
    from ..data.check_data import SYNTHETIC_CNN
    from ..metrics.base import METRICS

    wanted = [m for m in metrics if "networks" in METRICS.get(m).needs]
    if not wanted:
        return None
    if classifier.name != SYNTHETIC_CNN or data.name != "synthetic":
        raise CliError(
            f"{', '.join(wanted)} retrains the model on true and on permuted labels, "
            f"which this project can do for the synthetic CNN only: use --model "
            f"{SYNTHETIC_CNN} --data synthetic (got --model {classifier.name} "
            f"--data {data.name})"
        )
    from ..checks.data_randomization import train_randomization_networks
    from ..data.synthetic import TRAIN_SIZE, make_synthetic

    print(
        f"training 3 networks on make_synthetic({TRAIN_SIZE}, seed=0) (true labels twice, "
        f"permuted labels once; about a minute on 2 CPU cores)",
        file=sys.stderr,
        flush=True,
    )
    return train_randomization_networks(
        make_synthetic(TRAIN_SIZE, seed=0), seed=args.seed, epochs=DATA_RANDOMIZATION_EPOCHS
    )


@contextlib.contextmanager
def _executor(args):
    """The executor of ``--executor``, started before any model loads (CliError when it
    cannot start: Ray missing, a cluster that cannot be joined) and closed after the run."""
    from ..executors.local import get_executor

    try:
        executor = get_executor(
            args.executor,
            **({"address": args.ray_address, "workers": args.workers} if args.executor == "ray" else {}),
        )
    except (ImportError, ValueError, RuntimeError) as exc:
        raise CliError(f"--executor {args.executor}: {exc}") from None
    try:
        yield executor
    finally:
        executor.close()


def _check_args(args, settings, networks, data, executor) -> dict:
    """run_checks' options from the command line: variant, chunking, executor, data."""
    from functools import partial

    from ..data.check_data import load_check_model

    loader = partial(
        load_check_model,
        args.model,
        weights=args.weights,
        preprocessing=args.preprocessing,
        unsafe=args.unsafe,
    )
    return dict(
        variant=args.variant,
        batch_size=args.batch_size,
        device=args.device,
        settings=settings,
        networks=networks,
        chunk_images=args.chunk_images,
        sequence=data.sequence,
        prepare=data.prepare,
        executor=executor,
        worker_classifier=loader if args.executor == "ray" else None,
        precision=args.precision,
    )


def _run_config(args, classifier, data, settings, **extra) -> dict:
    return {
        "command": extra.pop("command"),
        "model": classifier.name,
        "weights": classifier.weights,
        "data": data.name,
        "images": data.names,
        "seed": args.seed,
        "variant": args.variant,
        "precision": args.precision,
        "variant_choice": getattr(args, "variant_choice", None),
        "batch_size": args.batch_size,
        "curve_steps": args.curve_steps,
        "data_seed": args.data_seed,
        "method_options": settings.method_options,
        "metric_settings": settings.metric_settings,
        "chunk_images": args.chunk_images,
        **_video_config(args, data),
        "argv": {k: v for k, v in vars(args).items() if k in _RESUMABLE},
        **extra,
    }


def _video_config(args, data) -> dict:
    if not data.sequence:
        return {}
    times = None if data.timestamps is None else [float(t) for t in data.timestamps]
    return {
        "sequence": True,
        "fps": args.fps,
        "max_frames": args.max_frames,
        "frame_rate": data.fps,
        "timestamps": times,
    }


# The options a resumed run takes from the run it continues (so its numbers are the same).
_RESUMABLE = (
    "model",
    "weights",
    "preprocessing",
    "unsafe",
    "data",
    "images",
    "data_seed",
    "seed",
    "variant",
    "precision",
    "batch_size",
    "curve_steps",
    "method_option",
    "chunk_images",
    "methods",
    "metrics",
    "policy",
    "method",
    "device",
    "fps",
    "max_frames",
    "metric_setting",
)


@contextlib.contextmanager
def _kept_on_error(run_id: str, command: str):
    """A folder that vanished, a full disk or a lost worker mid-run: one line saying that
    the finished chunks are kept and how to resume (exit 2)."""
    import sqlite3

    from ..store import StoreError

    try:
        yield
    except (OSError, sqlite3.OperationalError, StoreError) as exc:
        raise CliError(
            f"{type(exc).__name__}: {exc}; the finished chunks of run {run_id} are "
            f"kept: 'saliency-bench {command} --resume {run_id}' continues it"
        ) from None


def _resumed(args, store, command: str):
    """``(run_id, args)`` continuing ``--resume RUN`` with its stored options, or
    ``(None, args)``; CliError when the run is unknown or was another command."""
    if not args.resume:
        return None, args
    from ..store import StoreError

    try:
        run = store.get_run(args.resume)
    except (StoreError, KeyError) as exc:
        raise CliError(f"--resume: {exc}") from None
    stored = (run.config or {}).get("argv")
    if (run.config or {}).get("command") != command or stored is None:
        raise CliError(
            f"--resume {args.resume}: run {run.id} is not a '{command}' run of this version (start a new run)"
        )
    for key, value in stored.items():
        setattr(args, key, value)
    store.resume_run(run.id)
    print(f"resuming run {run.id}: finished chunks are kept", file=sys.stderr)
    return run.id, args


def _print_report(report, classifier, data, args) -> None:
    from ..checks.check_runner import chance_baseline
    from ..harness.text_table import print_table

    unit = "frames" if data.sequence else "images"
    count = (
        len(data.images)
        if not data.streamed
        else next((len(r.config.get("images", [])) for r in report.results if r.ok), "?")
    )
    print(
        f"model {classifier.name} (weights: {classifier.weights}); data {data.name}, "
        f"{count} {unit}; seed {args.seed}, variant {args.variant}, {args.precision}; "
        f"run {report.run_id}"
    )
    for method in report.methods:
        headers, rows = report.table(method, control=chance_baseline())
        print()
        print_table(headers, rows, title=f"{method}")
        for r in report.results:
            note = r.config.get("note") if r.method == method and r.ok else None
            if note:
                print(f"{r.metric}: {note}")


def cmd_check(args) -> int:
    """Run the metrics for every method; print a table per method."""
    from ..checks.check_runner import check_needs, run_checks, selected_metrics
    from ..checks.settings import default_check_methods
    from ..methods.base import METHODS

    try:
        methods = (
            [METHODS.canonical(m) for m in _split(args.methods)] if args.methods else default_check_methods()
        )
        metrics = None if args.metrics is None else selected_metrics(_split(args.metrics), has_masks=False)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    with open_store(args.store) as store, _executor(args) as executor:
        resume, args = _resumed(args, store, "check")
        if resume:
            methods = list(args.methods)
            metrics = list(args.metrics)
        classifier, data, settings = _prepare(args)
        metrics = metrics or selected_metrics(None, has_masks=data.masks is not None, sequence=data.sequence)
        networks = _networks(args, classifier, data, metrics)
        try:
            check_needs(
                metrics,
                has_masks=data.masks is not None,
                has_networks=networks is not None,
                sequence=data.sequence,
            )
        except ValueError as exc:
            raise CliError(f"{exc}; {data.name!r} cannot give it") from None
        _choose_variant(args, classifier)
        args.methods, args.metrics = methods, metrics
        config = _run_config(
            args, classifier, data, settings, command="check", methods=methods, metrics=metrics
        )
        with (
            store_run(store, "check", config, args.seed, run_id=resume) as run_id,
            _kept_on_error(run_id, "check"),
            CheckProgress() as progress,
        ):
            report = run_checks(
                classifier,
                data.images,
                methods=methods,
                metrics=metrics,
                seed=args.seed,
                data_name=data.name,
                store=store,
                run_id=run_id,
                masks=data.masks,
                image_names=data.names,
                progress=progress,
                **_check_args(args, settings, networks, data, executor),
            )
    _print_report(report, classifier, data, args)
    write_json(args.json, report.as_dict())
    if report.failed:
        raise CliError(
            f"{len(report.failed)} check(s) could not be computed: "
            + "; ".join(f"{r.method} {r.metric} ({r.reason})" for r in report.failed)
            + f"; finished chunks are kept: 'saliency-bench check --resume {report.run_id}' "
            "computes the rest"
        )
    return 0


def cmd_gate(args) -> int:
    """Evaluate one method against a policy; exit 0 pass, 1 fail, 2 error."""
    from ..checks.policy import PolicyError, load_policy
    from ..checks.gate_run import gate_lines, run_gate
    from ..checks.check_runner import check_needs
    from ..checks.settings import primary_method
    from ..methods.base import METHODS

    try:
        policy = load_policy(args.policy)
        method = METHODS.canonical(args.method) if args.method else primary_method()
    except (PolicyError, ValueError) as exc:
        raise CliError(str(exc)) from None
    with open_store(args.store) as store, _executor(args) as executor:
        resume, args = _resumed(args, store, "gate")
        classifier, data, settings = _prepare(args)
        networks = _networks(args, classifier, data, policy.metrics)
        try:
            check_needs(
                policy.metrics,
                has_masks=data.masks is not None,
                has_networks=networks is not None,
                sequence=data.sequence,
            )
        except ValueError as exc:
            raise CliError(f"{exc}; {data.name!r} cannot give it") from None
        _choose_variant(args, classifier)
        args.method = method
        config = _run_config(
            args,
            classifier,
            data,
            settings,
            command="gate",
            method=method,
            policy={
                "name": policy.name,
                "source": policy.source,
                "rules": [dataclasses.asdict(r) for r in policy.rules],
            },
        )
        with (
            store_run(store, "gate", config, args.seed, run_id=resume) as run_id,
            _kept_on_error(run_id, "gate"),
            CheckProgress() as progress,
        ):
            result, report = run_gate(
                policy,
                classifier,
                data,
                method=method,
                seed=args.seed,
                store=store,
                run_id=run_id,
                progress=progress,
                **_check_args(args, settings, networks, data, executor),
            )
    print("\n".join(gate_lines(result, policy, model=classifier.name, data=data.name)))
    write_json(
        args.json,
        {
            "gate": {
                "policy": policy.name,
                "source": policy.source,
                "model": classifier.name,
                "data": data.name,
                **result.as_dict(),
            },
            "checks": report.as_dict(),
            "run_id": run_id,
        },
    )
    if result.errors:
        print(
            f"saliency-bench: error: {len(result.errors)} rule(s) could not be measured: "
            + "; ".join(f"{r.rule.name}: {r.error}" for r in result.errors),
            file=sys.stderr,
        )
    return result.exit_code
