"""Paired bootstrap of a per-image difference, and a random control given as K orderings."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from saliency_core.stats import Interval, bootstrap_interval, paired_difference_interval


def _scores(n=60, seed=0):
    """Method and control scores dominated by a shared per-image difficulty (sd 1),
    with small independent noise (sd 0.05) and a true difference of -0.1."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.0, 1.0, n)
    a = difficulty - 0.1 + rng.normal(0.0, 0.05, n)
    b = difficulty + rng.normal(0.0, 0.05, n)
    return a, b


def _unpaired_interval(a, b, *, seed, n_resamples=2000, confidence=0.95):
    """Percentile interval of mean(a) - mean(b) when a and b are resampled independently
    (ignores that they score the same images)."""
    rng = np.random.default_rng(seed)
    means_a = a[rng.integers(0, a.size, (n_resamples, a.size))].mean(axis=1)
    means_b = b[rng.integers(0, b.size, (n_resamples, b.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return np.quantile(means_a - means_b, [alpha, 1 - alpha])


def test_pairing_makes_the_interval_of_a_difference_much_narrower():
    a, b = _scores()
    paired = paired_difference_interval(a, b, method="percentile", seed=0)
    low, high = _unpaired_interval(a, b, seed=0)
    # Widths scale with the sd of what is resampled: sd(a - b) ~ 0.07 for the pairs,
    # sqrt(var a + var b) ~ 1.4 for the two lists; a ratio of about 0.05.
    expected_ratio = np.std(a - b) / np.sqrt(np.var(a) + np.var(b))
    assert expected_ratio < 0.1
    assert paired.width < 2 * expected_ratio * (high - low)
    assert paired.high < 0.0 < high  # pairing resolves the sign; ignoring it does not
    assert paired.estimate == pytest.approx(a.mean() - b.mean(), rel=1e-12)


def test_paired_interval_is_the_bootstrap_of_the_per_image_differences():
    a, b = _scores(seed=1)
    for method in ("bca", "percentile"):
        paired = paired_difference_interval(a, b, method=method, seed=4)
        direct = bootstrap_interval(a - b, method=method, seed=4)
        assert isinstance(paired, Interval) and paired.control_spread is None
        assert {k: v for k, v in asdict(paired).items() if k != "control_spread"} == asdict(direct)


def test_k_control_orderings_are_averaged_per_image_and_their_spread_reported():
    a, base = _scores(n=50, seed=2)
    offsets = np.array([0.1, 0.3, 0.2])  # each ordering shifts the control's mean
    orderings = base[None, :] + offsets[:, None]
    paired = paired_difference_interval(a, orderings, seed=3)
    averaged = paired_difference_interval(a, orderings.mean(axis=0), seed=3)
    assert asdict(paired) | {"control_spread": None} == asdict(averaged)
    spread = paired.control_spread
    assert spread.k == 3
    # Closed form: ordering means are mean(base) + offsets.
    assert spread.mean == pytest.approx(base.mean() + 0.2, rel=1e-12)
    assert spread.std == pytest.approx(0.1, rel=1e-12)  # sd(ddof=1) of 0.1, 0.3, 0.2
    assert spread.low == pytest.approx(base.mean() + 0.1, rel=1e-12)
    assert spread.high == pytest.approx(base.mean() + 0.3, rel=1e-12)


def test_paired_inputs_that_do_not_pair_are_errors_naming_the_argument():
    a, b = _scores(n=10)
    with pytest.raises(ValueError, match="a has 10 images, b has 9"):
        paired_difference_interval(a, b[:9], seed=0)
    with pytest.raises(ValueError, match="a has 10 images, b has 9"):
        paired_difference_interval(a, np.stack([b[:9], b[:9]]), seed=0)
    with pytest.raises(ValueError, match=r"K >= 2 orderings"):
        paired_difference_interval(a, b[None, :], seed=0)
    bad = np.stack([b, b])
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"b has 1 non-finite value\(s\) .* at b\[1, 3\]"):
        paired_difference_interval(a, bad, seed=0)
    a_bad = a.copy()
    a_bad[7] = np.inf
    with pytest.raises(ValueError, match=r"a has 1 non-finite .* a\[7\]"):
        paired_difference_interval(a_bad, b, seed=0)


def test_identical_method_and_control_give_a_degenerate_zero_difference():
    a, _ = _scores(n=20)
    iv = paired_difference_interval(a, a.copy(), seed=0)
    assert iv.degenerate and iv.low == iv.high == iv.estimate == 0.0
