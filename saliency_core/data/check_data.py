"""The images a check runs on, for a classifier: bundled photos, the synthetic set, or a folder.

Used by ``saliency-bench check``/``gate`` and by a suite's ``[checks]`` step alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CheckData", "SYNTHETIC_CNN", "load_check_data", "load_check_model"]

SYNTHETIC_CNN = "synthetic-cnn"
"""The small CNN trained on the synthetic set (trained once, then cached)."""


@dataclass
class CheckData:
    """Images prepared for one classifier.

    Attributes:
        name: The data set's name (the ``data`` of every check cell key).
        images: (N, H, W, C) in the classifier's input space.
        names: One name per image.
        masks: (N, H, W) bool ground-truth object masks, or None.
        skipped: (path, reason) of files that could not be decoded.
    """

    name: str
    images: np.ndarray
    names: list[str]
    masks: np.ndarray | None = None
    skipped: list | None = None


def load_check_data(
    spec: str, classifier, *, images: int | None = None, data_seed: int = 1, synthetic_images: int = 16
) -> CheckData:
    """``spec`` = "photos", "synthetic" or an image folder, prepared for ``classifier``.

    Args:
        spec: What to load.
        classifier: The :class:`~saliency_core.models.classifier.Classifier` to prepare for.
        images: Use the first N images (None: all; ``synthetic_images`` for "synthetic").
        data_seed: Seed of the synthetic images.
        synthetic_images: How many synthetic images when ``images`` is None.

    Raises:
        ValueError: an unknown spec, a model that cannot take the images, or nothing
            decodable; the message names the option or the folder.
    """
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
    if spec != "photos" and not Path(spec).is_dir():
        raise ValueError(f"--data {spec!r} is not 'photos', 'synthetic' or a folder")
    if not classifier.raw_input:
        raise ValueError(
            f"model {classifier.name!r} takes its inputs as given, so photos cannot be "
            "resized for it; pass --preprocessing FAMILY, or use --data synthetic"
        )
    if spec == "photos":
        from .photos import load_photos

        image_set = load_photos()
    else:
        from .images import load_folder

        image_set = load_folder(spec)
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
        from .synthetic import load_synthetic_cnn

        return as_classifier(load_synthetic_cnn(), name=SYNTHETIC_CNN)
    from ..models.registry import load_model

    return load_model(name, **load_options)
