"""``explain`` (maps, figure and top-5 for images; an animated figure for a video),
``agree`` (do two variants compute the same maps?) and ``list`` (what can be run)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .common import (
    add_model_arguments,
    add_variant_arguments,
    add_video_arguments,
    load_classifier,
    load_images,
    prepare_images,
    resolve_variant,
)
from .errors import CliError

__all__ = ["register", "explain_images", "top_k"]


def register(sub) -> None:
    p = sub.add_parser(
        "explain",
        help="saliency maps for images: figure (map, input, overlay) + "
        "top-5; for a video, an animated figure (GIF or MP4)",
    )
    p.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, folders, or 'photos' for the bundled photos; or one video "
        "file (.mp4, .avi, .mov, .mkv, .webm, .gif) or 'video' (the bundled video)",
    )
    add_model_arguments(p, required=False, default="efficientnet-lite0")
    add_variant_arguments(p, what="saliency")
    p.add_argument("--score", default="logit", choices=("logit", "probability"))
    p.add_argument("--reduce", default="max_abs", choices=("max_abs", "sum_abs", "sum", "l2"))
    p.add_argument(
        "--method", default=None, help="a registered method ('list methods'; default: the primary method)"
    )
    p.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="METHOD.OPTION=VALUE",
        help="a method's option, e.g. smoothgrad.samples=50 (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the method's randomness")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: TensorFlow's choice)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="PNG file for the figure; for a video a .gif or .mp4 animation (with a "
        "still summary NAME-summary.png beside it)",
    )
    p.add_argument("--top", type=int, default=5, help="how many classes to print per image")
    add_video_arguments(p)
    p.set_defaults(func=_explain, uses_tensorflow=True)

    p = sub.add_parser(
        "agree", help="do xla or function compute the same gradients as eager? (exit 1 if not)"
    )
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, folders, or 'photos' for the bundled photos"
    )
    add_model_arguments(p, required=False, default="efficientnet-lite0")
    p.add_argument("--variant", default="xla", choices=("function", "xla"))
    p.add_argument("--score", default="logit", choices=("logit", "probability"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: TensorFlow's choice)")
    p.add_argument(
        "--factor",
        type=float,
        default=None,
        help="how many times float32's rounding, measured on the same images (eager "
        "float32 vs float64), the variants may differ by (default: "
        "saliency_core.agreement.FLOOR_FACTOR)",
    )
    p.set_defaults(func=_agree, uses_tensorflow=True)

    p = sub.add_parser("list", help="list models, suites, methods or metrics")
    p.add_argument("what", choices=("models", "suites", "methods", "metrics"))
    p.set_defaults(func=_list)


def top_k(logits: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(class id, softmax probability) of the k highest logits."""
    z = logits.astype(np.float64) - logits.max()
    p = np.exp(z) / np.exp(z).sum()
    order = np.argsort(-p, kind="stable")[:k]
    return [(int(i), float(p[i])) for i in order]


def explain_images(
    classifier,
    image_set,
    *,
    variant,
    score,
    reduce,
    method,
    batch_size,
    device,
    options=None,
    seed=0,
    precision="float32",
):
    """Prepare photos for the model and explain them; returns (inputs, SaliencyResult)."""
    from .. import Explainer

    inputs = prepare_images(classifier, image_set.images)
    explainer = Explainer(
        classifier, variant=variant, score=score, batch_size=batch_size, device=device, precision=precision
    )
    try:
        return inputs, explainer.explain(inputs, method=method, reduce=reduce, options=options, seed=seed)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _explain(args) -> int:
    from ..checks.settings import primary_method
    from ..data.video_data import is_video_spec
    from ..explain_figure import figure_png, recipe_figure
    from ..methods.base import METHODS, parse_method_options

    video = any(is_video_spec(spec) for spec in args.images)
    if not video and args.out.suffix.lower() != ".png":
        raise CliError(f"--out {str(args.out)!r} must be a .png file (.gif or .mp4 for a video)")
    try:
        method = METHODS.canonical(args.method) if args.method else primary_method()
        options = parse_method_options(args.method_option)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    args.method = method
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be >= 1, got {args.batch_size}")
    if video:
        from .explain_video import explain_video

        return explain_video(args, method, options.get(method))
    classifier = load_classifier(args)
    images = load_images(args.images)
    from ..harness.autovariant import calls_for

    resolve_variant(args, classifier, calls=calls_for(len(images.images), args.batch_size))
    inputs, result = explain_images(
        classifier,
        images,
        variant=args.variant,
        score=args.score,
        reduce=args.reduce,
        method=method,
        batch_size=args.batch_size,
        device=args.device,
        options=options.get(method),
        seed=args.seed,
        precision=args.precision,
    )
    titles = []
    print(
        f"model {classifier.name} (weights: {classifier.weights}, logits: {classifier.logits_source}); "
        f"{args.method}, {args.variant}, {args.precision}, score={args.score}, "
        f"reduce={args.reduce}"
    )
    for name, logits, target in zip(images.names, result.logits, result.targets):
        ranked = top_k(logits, args.top)
        print(f"{name}:")
        for rank, (cls, prob) in enumerate(ranked, 1):
            print(f"  {rank}. {classifier.class_name(cls):<32} id {cls:<5d} p={prob:.3f}")
        titles.append(f"{name}: {classifier.class_name(int(target))}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(figure_png(recipe_figure(inputs, result.maps, titles)))
    if images.skipped:
        print(f"skipped {len(images.skipped)} file(s) that could not be decoded", file=sys.stderr)
    print(f"figure: {args.out}")
    return 0


def _agree(args) -> int:
    from ..agreement import FLOOR_FACTOR, KinkAnalysisError, NoiseFloorError, variant_agreement

    from ..devices import DeviceUnavailableError, check_device

    factor = FLOOR_FACTOR if args.factor is None else args.factor
    if not factor >= 2:
        raise CliError(f"--factor must be >= 2, got {args.factor}")
    try:
        check_device(args.device)  # no silent fall-back to the CPU
    except (ValueError, DeviceUnavailableError) as exc:
        raise CliError(f"--device: {exc}") from None
    classifier = load_classifier(args)
    images = load_images(args.images)
    try:
        result = variant_agreement(
            classifier,
            prepare_images(classifier, images.images),
            args.variant,
            batch_size=args.batch_size,
            score=args.score,
            device=args.device,
            factor=factor,
        )
    except (KinkAnalysisError, NoiseFloorError) as exc:
        raise CliError(str(exc)) from None
    print(
        f"model {classifier.name} (weights: {classifier.weights}); {len(images.images)} image(s), "
        f"batch {args.batch_size}, score={args.score}"
    )
    print(result.describe())
    print(f"{'image':<28} {'as computed':>12} {'pinned':>10}")
    for name, raw, pinned in zip(images.names, result.rel_l2_per_image, result.pinned_rel_l2_per_image):
        print(f"{name:<28} {raw:>12.2e} {pinned:>10.2e}")
    basis = "pinned" if result.kink_layers else "as computed, no kinks"
    floor = result.noise_floor.pinned_rel_l2
    print(
        f"{args.variant} and eager compute the same function: "
        + (
            f"yes ({basis} {result.pinned_rel_l2:.2e}; float32's floor {floor:.2e}, factor {factor:g})"
            if result.agrees
            else "NO (" + "; ".join(result.reasons) + ")"
        )
    )
    return 0 if result.agrees else 1


def _list(args) -> int:
    if args.what == "models":
        from ..models.registry import list_models

        for row in list_models():
            h, w = row["input_size"]
            print(f"{row['name']:<20} {row['preprocessing']:<6} {h}x{w}  {row['weights']}")
    elif args.what == "methods":
        from ..methods.base import METHODS

        for m in sorted(METHODS, key=lambda m: m.kind != "attribution"):
            info = m.describe()
            options = ", ".join(f"{k}={v}" for k, v in info["options"].items()) or "no options"
            print(f"{m.name:<22} {m.kind:<9} {m.summary} ({options})")
    elif args.what == "suites":
        from ..harness.suites import list_suites

        for name in list_suites():
            print(name)
    else:
        from ..metrics.base import METRICS

        for metric in METRICS:
            alias = f" (also {', '.join(metric.aliases)})" if metric.aliases else ""
            settings = ", ".join(f"{k}={v}" for k, v in metric.describe()["settings"].items())
            print(
                f"{metric.name:<20} {metric.category:<14} {metric.direction} is better: "
                f"{metric.summary}{alias}" + (f" ({settings})" if settings else "")
            )
    return 0
