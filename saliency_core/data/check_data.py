"""The images a check runs on, for a classifier: bundled photos, the synthetic set, a
folder, a video file or the bundled video.

Used by ``saliency-bench check``/``gate`` and by a suite's ``[checks]`` step alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CheckData", "DEFAULT_MAX_FRAMES", "SYNTHETIC_CNN", "load_check_data", "load_check_model"]

SYNTHETIC_CNN = "synthetic-cnn"
"""The small CNN trained on the synthetic set (trained once, then cached)."""

DEFAULT_MAX_FRAMES = 32
"""Sampled frames of a video used at most, unless told (the bundled video has 24)."""


@dataclass
class CheckData:
    """Images prepared for one classifier.

    Attributes:
        name: The data set's name (the ``data`` of every check cell key).
        images: (N, H, W, C) in the classifier's input space, or an
            :class:`~saliency_core.data.stream.ImageStream` of decoded images read chunk
            by chunk (folders and list files: any size, bounded memory).
        names: One name per image (None for a stream: its batches name them).
        masks: (N, H, W) bool ground-truth object masks, or None.
        skipped: (path, reason) of files that could not be decoded.
        prepare: For a stream, what turns a chunk of decoded images into the
            classifier's input (``classifier.prepare``); None for arrays.
        sequence: True when the images are consecutive frames of one video.
        fps: Frames per second of a video's sampled frames (None for still images,
            or when the file declares no rate).
        timestamps: (N,) seconds of each sampled frame from the first, or None.
    """

    name: str
    images: Any
    names: list[str] | None
    masks: np.ndarray | None = None
    skipped: list | None = None
    prepare: Any = None
    sequence: bool = False
    fps: float | None = None
    timestamps: np.ndarray | None = None

    @property
    def streamed(self) -> bool:
        return self.names is None


def load_check_data(
    spec: str,
    classifier,
    *,
    images: int | None = None,
    data_seed: int = 1,
    synthetic_images: int = 16,
    fps: float | None = None,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
) -> CheckData:
    """``spec`` = "photos", "synthetic", an image folder, a list file (one image path per
    line, .txt), a video file (by suffix: .mp4, .avi, .mov, .mkv, .webm, .gif) or "video"
    (the bundled video, with the moving object's masks), for ``classifier``. Folders and
    list files are streamed: nothing is decoded here; their images are read and prepared
    chunk by chunk during the check.

    Args:
        spec: What to load.
        classifier: The :class:`~saliency_core.models.classifier.Classifier` to prepare for.
        images: Use the first N images (None: all; ``synthetic_images`` for "synthetic");
            not for a video (``max_frames`` is).
        data_seed: Seed of the synthetic images.
        synthetic_images: How many synthetic images when ``images`` is None.
        fps: A video's sampling rate in frames per second (None: every frame).
        max_frames: A video's sampled frames used at most (None: all).

    Returns:
        A :class:`CheckData`; ``sequence`` is True for a video.

    Raises:
        ValueError: an unknown spec, a model that cannot take the images, nothing
            decodable, or bad sampling options; the message names the option or the file.
        FileNotFoundError: a video file that does not exist.
        ImportError: a video without PyAV installed.
    """
    from .video_data import BUNDLED_VIDEO, VIDEO_SUFFIXES, is_video_spec, load_video_data

    if is_video_spec(spec):
        if images is not None:
            raise ValueError(
                f"--images selects still images; for the video {spec!r} use --max-frames (and --fps)"
            )
        return load_video_data(spec, classifier, fps=fps, max_frames=max_frames)
    if spec == "synthetic":
        from .synthetic import make_synthetic

        height, width, channels = classifier.input_shape
        if height != width or channels != 3:
            raise ValueError(
                f"--data synthetic makes square RGB images; model {classifier.name!r} "
                f"takes {classifier.input_shape}"
            )
        data = make_synthetic(images or synthetic_images, image_size=height, seed=data_seed)
        # The set is RGB in [0, 1]; a raw-input classifier takes RGB in [0, 255].
        pixels = data.images * (255.0 if classifier.raw_input else 1.0)
        names = [f"synthetic-{data_seed}-{i}-{data.class_names[k]}" for i, k in enumerate(data.labels)]
        return CheckData("synthetic", pixels.astype(classifier.dtype), names, data.masks)
    is_list = Path(spec).is_file() and Path(spec).suffix.lower() in (".txt", ".lst", ".list")
    if spec != "photos" and not Path(spec).is_dir() and not is_list:
        raise ValueError(
            f"--data {spec!r} is not 'photos', 'synthetic', {BUNDLED_VIDEO!r}, a "
            f"folder, a list file (.txt, one image path per line) or a video file "
            f"({', '.join(VIDEO_SUFFIXES)})"
        )
    if not classifier.raw_input:
        raise ValueError(
            f"model {classifier.name!r} takes its inputs as given, so photos cannot be "
            "resized for it; pass --preprocessing FAMILY, or use --data synthetic"
        )
    if spec != "photos":
        from .file_streams import folder_stream, list_file_stream

        stream = list_file_stream(spec) if is_list else folder_stream(spec)
        if images is not None:
            stream = _first(stream, images)
        return CheckData(spec, stream, None, None, [], prepare=classifier.prepare)
    from .photos import load_photos

    image_set = load_photos()
    try:
        prepared = classifier.prepare(image_set.images[:images])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"cannot prepare the images of {spec!r} for {classifier.name}: {exc}") from None
    return CheckData(spec, prepared, list(image_set.names[:images]), None, list(image_set.skipped))


def load_check_model(name: str, **load_options):
    """A classifier for checks: ``synthetic-cnn`` (unless a file of that name exists), or
    anything :func:`~saliency_core.models.registry.load_model` loads."""
    if name == SYNTHETIC_CNN and not Path(name).exists():
        from ..models.classifier import as_classifier
        from .synthetic_cnn import load_synthetic_cnn

        return as_classifier(load_synthetic_cnn(), name=SYNTHETIC_CNN)
    from ..models.registry import load_model

    return load_model(name, **load_options)


def _first(stream, n: int):
    """``stream`` limited to its first ``n`` positions."""
    from .stream import ImageStream

    class First(ImageStream):
        def items(self, start):
            for item in stream.items(start):
                if item.index >= n:
                    return
                yield item

    return First(stream.name, n if stream.size is None else min(n, stream.size))
