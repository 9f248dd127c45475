"""``explain VIDEO|video --out fig.gif|fig.mp4``: one method's maps of a video's sampled
frames as the animated (map | frame | overlay) figure, with a still summary PNG of a
few frames beside it (``fig-summary.png``).

The frames come from :func:`~saliency_core.data.check_data.load_check_data` (the same
sampling as ``check --data``), and the maps from one :class:`~saliency_core.Explainer`
call with ``sequence=True``, so gradient methods run through the compiled function in
chunks of ``--batch-size`` frames and sequence methods (optical flow) see the frames
in order.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from .common import check_video_arguments, load_classifier, resolve_variant
from .errors import CliError

__all__ = ["ANIMATION_SUFFIXES", "SUMMARY_FRAMES", "explain_video", "frame_rate", "summary_path"]

ANIMATION_SUFFIXES = (".gif", ".mp4")
SUMMARY_FRAMES = 4
"""Evenly spaced frames in the still summary (first and last included)."""


def summary_path(out: Path) -> Path:
    """Where the still summary of the animation ``out`` goes: ``<stem>-summary.png``."""
    return out.with_name(f"{out.stem}-summary.png")


def frame_rate(data) -> float:
    """The sampled frames' rate: as loaded, else from their timestamps, else 1 per second."""
    if data.fps:
        return float(data.fps)
    times = np.asarray(data.timestamps if data.timestamps is not None else [], np.float64)
    span = float(times[-1] - times[0]) if times.size > 1 else 0.0
    return (times.size - 1) / span if span > 0 else 1.0


def explain_video(args, method: str, options) -> int:
    """Run ``explain`` on the one video in ``args.images``; write the figures."""
    from ..data.check_data import load_check_data
    from ..explainer import Explainer
    from ..explain_video_figure import video_summary_png, write_video_figure
    from ..harness.autovariant import calls_for
    from ..metrics.temporal_support import display_frames

    if len(args.images) != 1:
        raise CliError(f"explain takes one video at a time, got {', '.join(args.images)}")
    if args.out.suffix.lower() not in ANIMATION_SUFFIXES:
        raise CliError(
            f"--out {str(args.out)!r}: a video's figure is an animation; give a "
            f"{' or '.join(ANIMATION_SUFFIXES)} file"
        )
    check_video_arguments(args)
    classifier = load_classifier(args)
    spec = args.images[0]
    try:
        data = load_check_data(spec, classifier, fps=args.fps, max_frames=args.max_frames)
    except (ValueError, FileNotFoundError, ImportError) as exc:
        raise CliError(str(exc)) from None
    assert data.names is not None  # a video's frames are named (only a stream has no names)
    resolve_variant(args, classifier, calls=calls_for(len(data.images), args.batch_size))
    explainer = Explainer(
        classifier,
        variant=args.variant,
        score=args.score,
        batch_size=args.batch_size,
        device=args.device,
        precision=args.precision,
    )
    try:
        result = explainer.explain(
            data.images, method=method, reduce=args.reduce, options=options, seed=args.seed, sequence=True
        )
    except ValueError as exc:
        raise CliError(f"{spec}: {exc}") from None
    fps = frame_rate(data)
    print(
        f"model {classifier.name} (weights: {classifier.weights}, logits: "
        f"{classifier.logits_source}); {method}, {args.variant}, {args.precision}, "
        f"score={args.score}, reduce={args.reduce}"
    )
    print(f"{spec}: {len(data.images)} frames at {fps:g} fps")
    for name, logits, target in zip(data.names, result.logits, result.targets):
        z = logits.astype(np.float64) - logits.max()
        p = float(np.exp(z[target]) / np.exp(z).sum())
        print(f"  {name}: {classifier.class_name(int(target))} (id {int(target)}) p={p:.3f}")
    tally = Counter(int(t) for t in result.targets)
    print(
        "top-1 over the frames: "
        + ", ".join(f"{classifier.class_name(c)} {n}/{len(data.images)}" for c, n in tally.most_common())
    )
    frames = display_frames(data.images, classifier.raw_input)
    label = f"{method} ({args.reduce})"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_video_figure(args.out, frames, result.maps, fps=fps, map_label=label)
    except ImportError as exc:
        raise CliError(str(exc)) from None
    summary = summary_path(args.out)
    summary.write_bytes(
        video_summary_png(frames, result.maps, count=SUMMARY_FRAMES, fps=fps, map_label=label)
    )
    print(f"figure: {args.out}")
    print(f"summary: {summary}")
    return 0
