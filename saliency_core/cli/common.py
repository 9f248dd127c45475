"""Arguments and loading shared by subcommands: models and images, with clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

from .errors import CliError

__all__ = [
    "add_model_arguments",
    "add_variant_arguments",
    "add_video_arguments",
    "check_video_arguments",
    "load_classifier",
    "load_images",
    "prepare_images",
    "resolve_variant",
]


def add_model_arguments(parser, *, required=True, default=None) -> None:
    parser.add_argument(
        "--model",
        required=required,
        default=default,
        metavar="NAME|PATH",
        help="registry name (see 'list models'), efficientnet-lite0, or a model file",
    )
    parser.add_argument(
        "--weights",
        default=None,
        metavar="imagenet|random|PATH",
        help="registry models: imagenet (default; backbones from the Keras cache or "
        "a download, efficientnet-lite0 from its package), random (seeded), or a "
        "weights file (.weights.h5; efficientnet-lite0 also .pth). Model files: "
        "their own weights by default; random or PATH replace them",
    )
    parser.add_argument(
        "--preprocessing",
        default=None,
        help="user model files: preprocessing family (caffe, tf, torch, raw, lite0); "
        "default: inputs taken as given (registry models use their own)",
    )
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="user model files: allow Lambda layers (runs code stored in the file)",
    )


def add_variant_arguments(parser, *, what: str) -> None:
    """``--variant`` (default ``auto``) and ``--precision`` (default float32)."""
    from ..gradients import PRECISIONS, VARIANTS

    parser.add_argument(
        "--variant",
        default="auto",
        choices=("auto", *VARIANTS),
        help=f"{what} variant (default: auto: the faster of function and xla "
        "for this model, device and precision, measured once and cached; "
        "the choice is printed on stderr). The variants give the same maps",
    )
    parser.add_argument(
        "--precision",
        default="float32",
        choices=PRECISIONS,
        help="network precision (default: float32). bfloat16 and float16 are "
        "mixed: the network computes in them, scores and maps are float32; "
        "the maps approximate float32's ('time --precisions' records how "
        "closely). A device without fast kernels for it still runs it",
    )


def resolve_variant(args, classifier, *, calls: int) -> str:
    """``args.variant``, or for ``auto`` the measured choice (printed as one line on
    stderr); sets ``args.variant`` and ``args.variant_choice`` (the record, or None)."""
    import sys

    args.variant_choice = None
    if args.variant != "auto":
        return args.variant
    from ..harness.autovariant import choose_variant

    choice = choose_variant(
        classifier, device=args.device, precision=args.precision, batch_size=args.batch_size, calls=calls
    )
    print(f"saliency-bench: {choice.line()}", file=sys.stderr, flush=True)
    args.variant, args.variant_choice = choice.variant, choice.record()
    return choice.variant


def add_video_arguments(parser) -> None:
    """``--fps`` and ``--max-frames``: how a video's frames are sampled."""
    from ..data.check_data import DEFAULT_MAX_FRAMES

    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        metavar="RATE",
        help="video data: sample the frames at RATE frames per second (the first "
        "frame at or after each 1/RATE s; default: every frame)",
    )
    parser.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_MAX_FRAMES,
        metavar="N",
        help=f"video data: use at most N sampled frames (default: {DEFAULT_MAX_FRAMES})",
    )


def check_video_arguments(args) -> None:
    """CliError for a ``--fps`` that is not a positive number or a ``--max-frames`` < 1."""
    import math

    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        raise CliError(f"--fps must be a positive number of frames per second, got {args.fps:g}")
    if args.max_frames is not None and args.max_frames < 1:
        raise CliError(f"--max-frames must be >= 1, got {args.max_frames}")


def load_classifier(args):
    """Load ``args.model``; every failure becomes a one-line CliError (exit 2)."""
    from ..models.registry import load_model
    from ..models.user import UnsafeModelError
    from ..models.weights import WeightsUnavailableError

    try:
        return load_model(
            args.model, weights=args.weights, preprocessing=args.preprocessing, unsafe=args.unsafe
        )
    except (WeightsUnavailableError, UnsafeModelError, FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None


def load_images(specs: list[str]):
    """Image files, folders, or the bundled dataset name "photos" -> ImageSet.

    Undecodable files are skipped with a warning naming each; a missing path or
    nothing left to explain is a CliError.
    """
    from ..data import ImageDecodeError, ImageSet, load_folder, load_image, load_photos

    result = ImageSet(images=[], names=[], paths=[], labels=[], skipped=[], source="cli")
    for spec in specs:
        if spec == "photos":
            part = load_photos()
        elif Path(spec).is_dir():
            try:
                part = load_folder(spec)
            except (FileNotFoundError, ValueError) as exc:
                raise CliError(str(exc)) from None
        elif Path(spec).is_file():
            try:
                part = ImageSet(
                    images=[load_image(spec)],
                    names=[Path(spec).name],
                    paths=[spec],
                    labels=[None],
                    skipped=[],
                    source=spec,
                )
            except ImageDecodeError as exc:
                warnings.warn(str(exc), stacklevel=2)
                result.skipped.append((spec, exc.reason))
                continue
        else:
            raise CliError(f"image {spec!r} does not exist (give files, folders, or 'photos')")
        for attr in ("images", "names", "paths", "labels", "skipped"):
            getattr(result, attr).extend(getattr(part, attr))
    if not result.images:
        raise CliError("no decodable images among: " + ", ".join(specs))
    return result


def prepare_images(classifier, images):
    """``classifier.prepare(images)``; images the model cannot take become a CliError."""
    try:
        return classifier.prepare(images)
    except ValueError as exc:
        raise CliError(str(exc)) from None
