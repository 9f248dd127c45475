"""A classifier as the core sees it: a Keras model that outputs logits, plus how
raw images become its input.

Every model, whether from the backbone registry, the ported EfficientNet-Lite0 or a
user's file, is wrapped in a :class:`Classifier` before saliency is computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .preprocessing import Preprocessing, get_preprocessing

__all__ = ["Classifier", "as_classifier"]


@dataclass
class Classifier:
    """A Keras model that maps a normalised input batch to class logits.

    Attributes:
        name: Human-readable name, recorded with results ("resnet50", a file name).
        model: Keras model; its output is pre-softmax logits, shape (N, classes).
        preprocessing: Geometric and value preprocessing of raw RGB images.
        class_names: Optional list of class names, indexed by class id.
        weights: Where the weights came from ("imagenet", "random", a path, ...).
        logits_source: How the logits were reached: "logits" (model outputs them),
            "stripped-softmax" (a final softmax was bypassed, weights shared).
        raw_input: True when saliency is taken with respect to raw RGB in [0, 255]
            (``preprocessing.normalize`` runs inside the gradient); False for a plain
            model whose inputs are taken as given.
    """

    name: str
    model: Any  # a keras.Model
    preprocessing: Preprocessing = field(default_factory=lambda: get_preprocessing("identity"))
    class_names: list[str] | None = None
    weights: str = "unknown"
    logits_source: str = "logits"
    raw_input: bool = True

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(H, W, C) of one input image."""
        return tuple(int(d) for d in self.model.inputs[0].shape[1:])

    @property
    def dtype(self) -> str:
        """Dtype the model computes in (float32, or float64 under that Keras policy)."""
        return (
            self.model.inputs[0].dtype
            if isinstance(self.model.inputs[0].dtype, str)
            else self.model.inputs[0].dtype.name
        )

    @property
    def num_classes(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def network_input(self, x):
        """The network's input for a batch of raw images (tensor): ``x`` normalised by the
        preprocessing when ``raw_input``, else ``x``; differentiable."""
        return self.preprocessing.normalize(x) if self.raw_input else x

    def logits(self, x, training: bool = False):
        """Logits for a batch of raw images (tensor); differentiable."""
        return self.model(self.network_input(x), training=training)

    def prepare(self, images) -> np.ndarray:
        """Raw uint8 RGB photos (list or array) -> float batch (N, H, W, 3) ready for
        :meth:`logits`: geometric preprocessing only, values stay in [0, 255]."""
        if not self.raw_input:
            expected = self.input_shape
            for i, im in enumerate(images):
                if np.shape(im) != expected:
                    raise ValueError(
                        f"model {self.name!r} takes its inputs as given (no preprocessing named), "
                        f"and image {i} has shape {np.shape(im)}, not {expected}; name a "
                        f"preprocessing (--preprocessing caffe|tf|torch|raw|lite0) to resize and "
                        f"normalise raw photos"
                    )
            return np.asarray(images, dtype=self.dtype)
        return np.stack([self.preprocessing.geometry(im) for im in images]).astype(self.dtype)

    def class_name(self, index: int) -> str:
        if self.class_names and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"


def as_classifier(
    model, *, name: str | None = None, preprocessing: str | Preprocessing | None = None, class_names=None
) -> Classifier:
    """Wrap a Keras model (or return a Classifier unchanged).

    A model whose last layer applies softmax is given a logit head that shares its
    weights (see :func:`saliency_core.models.logits.logit_model`); nothing is retrained.
    Without ``preprocessing`` the inputs are taken as given (no value transform).
    """
    if isinstance(model, Classifier):
        return model
    from .logits import logit_model

    logits, source = logit_model(model)
    if preprocessing is None:
        pre, raw = get_preprocessing("identity"), False
    else:
        pre = get_preprocessing(preprocessing) if isinstance(preprocessing, str) else preprocessing
        pre = pre.with_input_size(tuple(int(d) for d in model.inputs[0].shape[1:3]))
        raw = True
    return Classifier(
        name=name or model.name,
        model=logits,
        preprocessing=pre,
        class_names=class_names,
        weights="user",
        logits_source=source,
        raw_input=raw,
    )
