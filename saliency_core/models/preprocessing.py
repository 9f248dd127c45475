"""Per-family input preprocessing, split into a geometric and a value part.

The geometric part (resize the short side, centre-crop) runs once on uint8 photos
in numpy, outside any gradient. The value part (scaling, mean/std, channel order)
is a differentiable TensorFlow function applied inside the compiled saliency
function, so gradients can be taken with respect to raw RGB pixels in [0, 255].

Each ``keras.applications`` family was trained with its own value transform;
feeding one family's input to another (for example ResNet50 with DenseNet's
"torch" normalisation) shifts every activation and changes the maps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

__all__ = ["Preprocessing", "FAMILIES", "get_preprocessing"]

# Value transforms, as (channel order, scale, mean, std) applied as
# ((x[..., order] * scale) - mean) / std. Numbers are those of the families'
# reference implementations (keras.applications.imagenet_utils).
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR order
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How raw RGB uint8 images become a model's input.

    Attributes:
        name: Family name, recorded with every result ("caffe", "tf", "torch",
            "raw", "lite0", "identity").
        input_size: (height, width) the model expects.
        crop_fraction: The centre crop covers this fraction of the resized short
            side (0.875 is the usual ImageNet evaluation protocol: 256 -> 224).
            1.0 resizes the short side straight to the input size.
        bgr: Reverse the channel order (Caffe-trained models).
        scale: Multiply pixel values in [0, 255] by this first.
        mean: Per-channel value subtracted after scaling (in model channel order).
        std: Per-channel divisor applied last.
    """

    name: str
    input_size: tuple[int, int] = (224, 224)
    crop_fraction: float = 0.875
    bgr: bool = False
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def is_identity(self) -> bool:
        return (
            not self.bgr
            and self.scale == 1.0
            and self.mean == (0.0, 0.0, 0.0)
            and self.std == (1.0, 1.0, 1.0)
        )

    def with_input_size(self, input_size: tuple[int, ...]) -> "Preprocessing":
        return Preprocessing(
            self.name,
            cast(tuple[int, int], tuple(input_size)),
            self.crop_fraction,
            self.bgr,
            self.scale,
            self.mean,
            self.std,
        )

    def normalize(self, x):
        """Value transform: raw RGB in [0, 255] (tensor, ..., 3) -> model input.

        Differentiable; runs inside the compiled saliency function.
        """
        import tensorflow as tf

        if self.is_identity:
            return x
        if self.bgr:
            x = tf.reverse(x, axis=[-1])
        dtype = x.dtype
        x = x * tf.constant(self.scale, dtype)
        x = x - tf.constant(self.mean, dtype)
        return x / tf.constant(self.std, dtype)

    def normalize_numpy(self, x: np.ndarray) -> np.ndarray:
        """The same value transform in numpy (for substrates and reference checks).

        Keeps float64 input in float64 (finite-difference references need it);
        anything else is computed in float32.
        """
        x = np.asarray(x)
        dtype = np.float64 if x.dtype == np.float64 else np.float32
        x = x.astype(dtype, copy=False)
        if self.is_identity:
            return x
        if self.bgr:
            x = x[..., ::-1]
        return ((x * dtype(self.scale)) - np.asarray(self.mean, dtype)) / np.asarray(self.std, dtype)

    def geometry(self, image: np.ndarray) -> np.ndarray:
        """Resize the short side and centre-crop to ``input_size``.

        Args:
            image: (H, W, 3) uint8 RGB.
        Returns:
            (h, w, 3) float32 RGB in [0, 255], with (h, w) = ``input_size``.
        """
        from PIL import Image

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        th, tw = self.input_size
        h, w = image.shape[:2]
        short = max(th, tw) / self.crop_fraction
        ratio = short / min(h, w)
        nh, nw = max(th, round(h * ratio)), max(tw, round(w * ratio))
        pil = Image.fromarray(image.astype(np.uint8)).resize((nw, nh), Image.Resampling.BICUBIC)
        top, left = (nh - th) // 2, (nw - tw) // 2
        return np.asarray(pil, dtype=np.float32)[top : top + th, left : left + tw]


FAMILIES: dict[str, Preprocessing] = {
    # ResNet, VGG: Caffe weights, BGR, mean subtraction, no scaling.
    "caffe": Preprocessing("caffe", bgr=True, mean=_CAFFE_MEAN),
    # MobileNet, Inception, Xception: scale to [-1, 1].
    "tf": Preprocessing("tf", scale=1 / 127.5, mean=(1.0, 1.0, 1.0)),
    # DenseNet: [0, 1] then ImageNet mean/std.
    "torch": Preprocessing("torch", scale=1 / 255.0, mean=_TORCH_MEAN, std=_TORCH_STD),
    # EfficientNet, ConvNeXt in Keras normalise inside the model: feed [0, 255].
    "raw": Preprocessing("raw"),
    # EfficientNet-Lite (TF reference and the PyTorch port): (x - 127) / 128,
    # short side resized to 256, centre crop 224.
    "lite0": Preprocessing(
        "lite0", crop_fraction=224 / 256, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0)
    ),
    # A user's model that takes inputs as given.
    "identity": Preprocessing("identity", crop_fraction=1.0),
}


def get_preprocessing(name: str, input_size: tuple[int, int] | None = None) -> Preprocessing:
    """Look up a preprocessing family by name, optionally for another input size."""
    try:
        pre = FAMILIES[name]
    except KeyError:
        raise ValueError(
            f"unknown preprocessing {name!r}; choose one of {', '.join(sorted(FAMILIES))}"
        ) from None
    return pre.with_input_size(input_size) if input_size else pre
