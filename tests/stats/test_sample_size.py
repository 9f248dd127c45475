"""Sample-size estimate against the closed form n = ceil((z sd / |mean - threshold|)^2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from saliency_core.stats import images_needed


def _with_moments(mean, sd, n=25, seed=0):
    """n values whose sample mean and sample sd (ddof=1) are ``mean`` and ``sd``."""
    u = np.random.default_rng(seed).normal(size=n)
    return mean + sd * (u - u.mean()) / u.std(ddof=1)


@pytest.mark.parametrize(
    "mean, sd, threshold, confidence",
    [
        (0.3, 1.2, 0.1, 0.95),  # (1.96 * 1.2 / 0.2)^2 = 138.3 -> 139
        (-0.05, 0.4, 0.0, 0.99),  # below the threshold: distance is absolute
        (2.0, 0.5, 0.0, 0.95),  # a large effect: the closed form is 1, raised to 2
    ],
)
def test_images_needed_matches_the_closed_form(mean, sd, threshold, confidence):
    values = _with_moments(mean, sd)
    estimate = images_needed(values, threshold, confidence=confidence)
    z = stats.norm.ppf((1 + confidence) / 2)  # scipy, independent of the module's NormalDist
    exact = (z * sd / abs(mean - threshold)) ** 2
    assert abs(exact - round(exact)) > 1e-3  # not at an integer, where ceil would be fragile
    assert estimate.images == max(2, math.ceil(exact))
    assert estimate.reason == ""
    assert estimate.n_observed == values.size
    assert (estimate.mean, estimate.sd, estimate.z) == pytest.approx((mean, sd, z), rel=1e-12)

    # What the number means: at ``images`` the half-width z sd / sqrt(n) is within the
    # distance to the threshold; one image fewer it is not (unless the floor of 2 applies).
    def half_width(n):
        return z * sd / math.sqrt(n)

    assert half_width(estimate.images) <= abs(mean - threshold)
    if estimate.images > 2:
        assert half_width(estimate.images - 1) > abs(mean - threshold)


def test_higher_confidence_or_a_smaller_effect_needs_more_images():
    values = _with_moments(0.3, 1.0)
    assert images_needed(values, 0.0, confidence=0.99).images > images_needed(values, 0.0).images
    assert images_needed(values, 0.2).images > images_needed(values, 0.0).images


def test_zero_effect_needs_no_finite_number_of_images():
    estimate = images_needed([-1.0, 1.0, -2.0, 2.0], 0.0)
    assert estimate.images is None and estimate.distance == 0.0
    assert "zero effect" in estimate.reason


def test_constant_values_and_one_image_give_no_estimate_with_a_reason():
    constant = images_needed(np.full(8, 0.5), 0.0)
    assert constant.images is None and "sd = 0" in constant.reason
    zeros = images_needed(np.zeros(8), 0.1)
    assert zeros.images is None and "sd = 0" in zeros.reason
    single = images_needed([0.5], 0.0)
    assert single.images is None and "one image" in single.reason


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError, match=r"1 non-finite .* values\[2\]"):
        images_needed([0.1, 0.2, np.nan], 0.0)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        images_needed([0.1, 0.2], float("inf"))
    with pytest.raises(ValueError, match="confidence must be strictly between 0 and 1"):
        images_needed([0.1, 0.2], 0.0, confidence=95)
