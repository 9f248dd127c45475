"""Fidelity of low-precision maps to float32: the four measures against hand-computed
values and scipy, and the TF path against itself at float32 (exactly identical maps)."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from saliency_core.precision import EPSILON
from saliency_core.fidelity import (
    REFERENCE_VARIANT,
    map_fidelity,
    precision_fidelity,
    relative_l2,
    top_overlap,
)

from .models_for_tests import float64_twin, images, rounding_kappa, small_cnn


def test_relative_l2_by_hand():
    r = np.array([[[3.0, 4.0]], [[0.0, 0.0]], [[0.0, 0.0]], [[1.0, 0.0]]])
    m = np.array([[[3.0, 0.0]], [[0.0, 0.0]], [[0.0, 2.0]], [[1.0, 0.0]]])
    # |(0, -4)| / |(3, 4)| = 4/5; both zero: 0; reference zero only: inf; equal: 0
    assert relative_l2(r, m).tolist() == [0.8, 0.0, np.inf, 0.0]


def test_top_overlap_by_hand():
    r = np.array([[[5.0, -4.0, 3.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]]])  # 10 pixels
    # fraction 0.2 -> k = 2: reference top-2 by |r| = pixels 0 and 1
    same = np.array([[[9.0, 8.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]])
    half = np.array([[[9.0, 0.0, 0.0, 0.0, 0.0], [0.0, -7.0, 0.0, 0.0, 0.0]]])
    none = np.array([[[0.0, 0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]])
    assert top_overlap(r, same, 0.2).tolist() == [1.0]
    assert top_overlap(r, half, 0.2).tolist() == [0.5]
    assert top_overlap(r, none, 0.2).tolist() == [0.0]
    # k = ceil(0.25 * 10) = 3: reference {0, 1, 2}; |half| ranks 0, 6, then ties at 0
    # broken by the lower flat index: 1 -> {0, 6, 1}: overlap 2 / 3
    assert top_overlap(r, half, 0.25).tolist() == pytest.approx([2 / 3])
    with pytest.raises(ValueError, match="fraction"):
        top_overlap(r, r, 0.0)


def test_map_fidelity_against_scipy_and_counts():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(3, 5, 6))
    maps = ref + rng.normal(scale=0.5, size=ref.shape)
    ref_logits = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0], [0.0, 0.0, 5.0]])
    logits = np.array([[1.0, 2.5, 0.0], [0.0, 3.0, 1.0], [0.0, 1.0, 4.0]])  # top-1: 1, 1, 2
    fid = map_fidelity(ref, maps, ref_logits, logits)
    expected = [spearmanr(np.abs(a).ravel(), np.abs(b).ravel())[0] for a, b in zip(ref, maps)]
    assert fid.spearman_abs == pytest.approx(expected, abs=1e-12)
    assert fid.top1 == [1, 0, 1]
    summary = fid.summary
    assert summary["top1_agreement"] == pytest.approx(2 / 3)
    assert summary["spearman_abs_min"] == pytest.approx(min(expected), abs=1e-12)
    assert summary["rel_l2_max"] == max(fid.rel_l2) and summary["images"] == 3
    stored = fid.to_dict()
    assert stored["per_image"]["top1"] == [1, 0, 1] and stored["top_fraction"] == 0.1
    with pytest.raises(ValueError, match="logits"):
        map_fidelity(ref, maps, ref_logits[:2], logits[:2])


def test_precision_fidelity_of_float32_against_itself_is_exact():
    """The same variant and precision as the reference computes the same maps: every
    measure at its perfect value, which checks the pairing of images and targets."""
    model = small_cnn(size=12)
    x = images(4, size=12)
    fid = precision_fidelity(model, x, precision="float32", variant=REFERENCE_VARIANT, batch_size=3)
    assert fid.spearman_abs == [1.0] * 4 and fid.rel_l2 == [0.0] * 4
    assert fid.top_overlap == [1.0] * 4 and fid.top1 == [1] * 4
    assert fid.reference["variant"] == REFERENCE_VARIANT


def test_precision_fidelity_bfloat16_matches_the_explainer_maps():
    from saliency_core import Explainer

    model = small_cnn(size=12)
    x = images(4, size=12)
    fid = precision_fidelity(model, x, precision="bfloat16", variant="eager", batch_size=4)
    ref = Explainer(model, variant="function").explain(x)
    low = Explainer(model, variant="eager", precision="bfloat16").explain(x, targets=ref.targets)
    assert fid.rel_l2 == pytest.approx(relative_l2(ref.maps, low.maps).tolist(), rel=1e-9)
    # it differs, by about bfloat16's eps times the measured float32 noise floor (kappa:
    # float32 maps against float64 maps of the same network and images)
    twin = float64_twin(small_cnn, model, size=12)
    ref64 = Explainer(twin, variant="eager").explain(x.astype("float64"), targets=ref.targets)
    kappa = rounding_kappa(ref.maps, ref64.maps)
    assert 0 < max(fid.rel_l2) < 4 * kappa * (EPSILON["bfloat16"] + EPSILON["float32"])
