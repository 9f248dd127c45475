"""What ``check`` and ``gate`` set up before they run: the options checked and the model,
data and settings loaded (``prepare``), the variant chosen, the trained networks a metric
needs, the executor, and ``run_checks``' options.
"""

from __future__ import annotations

import contextlib
import sys

from .common import (
    check_video_arguments,
    resolve_variant,
)
from .errors import CliError


DATA_RANDOMIZATION_EPOCHS = 4  # as the synthetic CNN itself (data.synthetic_cnn.load_synthetic_cnn)


def prepare(args):
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
        ("--score-check-every", getattr(args, "score_check_every", None)),
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
        CheckSettings(
            method_options=options,
            metric_settings=metric_settings,
            score_precision=getattr(args, "score_precision", None),
            score_check_every=getattr(args, "score_check_every", None) or CheckSettings.score_check_every,
        ),
        classifier.input_shape,
        args.curve_steps,
    )
    return classifier, data, settings


def choose_variant(args, classifier) -> None:
    """``--variant auto``: measured (or cached) once every input is known to be good."""
    from ..harness.autovariant import CHECK_CALLS

    resolve_variant(args, classifier, calls=CHECK_CALLS)


def trained_networks(args, classifier, data, metrics):
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
    from ..checks.data_randomization_test import train_randomization_networks
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
def open_executor(args):
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


def check_args(args, settings, networks, data, executor) -> dict:
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
