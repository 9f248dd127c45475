"""Bootstrap intervals over images, checked against scipy.stats.bootstrap, against the
coverage they promise on data with a known mean, and on degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import saliency_core.stats.bootstrap as bootstrap_module
from saliency_core.stats import MIN_RESAMPLES, bootstrap_interval

SCIPY_NAMES = {"percentile": "percentile", "bca": "BCa"}


def _ends_over_seeds(interval_fn, seeds):
    return np.array([interval_fn(seed) for seed in seeds])  # (k, 2): low, high


def _scipy_tolerance(ours, theirs, level=0.999):
    """Half-width of a two-sided ``level`` two-sample t test on the mean interval ends.

    Both implementations estimate the same ends from the same bootstrap distribution
    with the same number of resamples, so their Monte-Carlo variances are equal; the
    pooled variance over the seeds run here (2k - 2 degrees of freedom) is that noise
    floor, measured in this run. A real difference between the methods (e.g. a wrong
    bias correction) is a shift of many Monte-Carlo standard errors.
    """
    k = len(ours)
    pooled_sd = np.sqrt((ours.var(axis=0, ddof=1) + theirs.var(axis=0, ddof=1)) / 2)
    t = stats.t.ppf(1 - (1 - level) / 2, df=2 * k - 2)
    return t * pooled_sd * np.sqrt(2 / k)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_interval_agrees_with_scipy_within_monte_carlo_noise(method):
    # Skewed per-image scores (log-normal, n=30), where BCa and percentile differ.
    values = np.random.default_rng(12).lognormal(sigma=1.0, size=30)
    b, k = 20_000, 6

    def ours(seed):
        iv = bootstrap_interval(values, method=method, n_resamples=b, seed=seed)
        assert (iv.method, iv.n_resamples, iv.n, iv.degenerate) == (method, b, 30, False)
        return iv.low, iv.high

    def theirs(seed):
        res = stats.bootstrap(
            (values,),
            np.mean,
            n_resamples=b,
            method=SCIPY_NAMES[method],
            confidence_level=0.95,
            rng=np.random.default_rng(1000 + seed),
        )
        return res.confidence_interval.low, res.confidence_interval.high

    our_ends = _ends_over_seeds(ours, range(k))
    scipy_ends = _ends_over_seeds(theirs, range(k))
    tolerance = _scipy_tolerance(our_ends, scipy_ends)
    difference = np.abs(our_ends.mean(axis=0) - scipy_ends.mean(axis=0))
    assert np.all(difference <= tolerance), (difference, tolerance)

    # The test can tell the methods apart: on these data the other method's ends are
    # more than the tolerance away, so agreeing with scipy is not automatic.
    other = "BCa" if method == "percentile" else "percentile"
    other_ends = _ends_over_seeds(
        lambda seed: tuple(
            stats.bootstrap(
                (values,), np.mean, n_resamples=b, method=other, rng=np.random.default_rng(seed)
            ).confidence_interval
        ),
        range(2),
    )
    assert np.all(np.abs(other_ends.mean(axis=0) - our_ends.mean(axis=0)) > tolerance)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_95_percent_intervals_cover_the_true_mean_about_95_percent_of_the_time(method):
    # 300 independent data sets of n=30 from N(2, 1). If each interval covers the true
    # mean with probability p, the number that do is Binomial(300, p), and a correct
    # 95% method lands in its central 99.9% range (binom.ppf(0.0005) .. binom.ppf(0.9995))
    # with probability 0.999. p is the nominal 0.95 up to a known small-sample shortfall:
    # the percentile interval of a mean is close to mean +- 1.96 * sd(ddof=0) / sqrt(n),
    # whose coverage on normal data is P(|t_29| < 1.96 sqrt(29/30)) = 0.936. So the band
    # runs from the 0.05% point of Binomial(300, 0.936) (266) to the 99.95% point of
    # Binomial(300, 0.95) (296). With 300 sets this catches gross errors (an 80% level
    # covers about 240 times; ends that are far too wide cover 300 times), not 90% vs 95%.
    n_sets, n, true_mean = 300, 30, 2.0
    data = np.random.default_rng(2024).normal(true_mean, 1.0, size=(n_sets, n))
    covered = sum(
        iv.low <= true_mean <= iv.high
        for iv in (bootstrap_interval(row, method=method, seed=i) for i, row in enumerate(data))
    )
    p_small_sample = 2 * stats.t.cdf(1.96 * np.sqrt((n - 1) / n), df=n - 1) - 1
    low = stats.binom.ppf(0.0005, n_sets, min(0.95, p_small_sample))
    high = stats.binom.ppf(0.9995, n_sets, 0.95)
    assert low <= covered <= high, (covered, low, high)


def test_same_seed_gives_the_same_interval_and_another_seed_a_different_one():
    values = np.random.default_rng(3).normal(size=25)
    for method in ("bca", "percentile"):
        first = bootstrap_interval(values, method=method, seed=7)
        assert bootstrap_interval(values, method=method, seed=7) == first
        other = bootstrap_interval(values, method=method, seed=8)
        assert (other.low, other.high) != (first.low, first.high)
        assert other.estimate == first.estimate == pytest.approx(values.mean(), rel=1e-12)


def test_resampling_in_blocks_uses_every_resample_once(monkeypatch):
    # Blocks of 3 resamples (2000 is not a multiple of 3); the percentile interval must be
    # the quantiles of exactly the 2000 statistics computed, in (rows, n) blocks.
    n = 40
    monkeypatch.setattr(bootstrap_module, "_BLOCK_ELEMENTS", 3 * n)
    values = np.random.default_rng(5).normal(size=n)
    calls = []

    def recording_mean(x, axis=-1):
        result = np.mean(x, axis=axis)
        calls.append((x.shape, np.atleast_1d(result)))
        return result

    iv = bootstrap_interval(values, method="percentile", seed=0, statistic=recording_mean)
    blocks = [(shape, out) for shape, out in calls if len(shape) == 2]
    assert all(shape[0] <= 3 and shape[1] == n for shape, _ in blocks)
    replicates = np.concatenate([out for _, out in blocks])
    assert replicates.size == MIN_RESAMPLES
    alpha = (1 - 0.95) / 2  # computed as in the module, so the comparison is exact
    assert (iv.low, iv.high) == tuple(np.quantile(replicates, [alpha, 1 - alpha]))


def test_constant_values_and_all_zeros_collapse_to_a_flagged_point():
    for values in (np.full(12, 3.5), np.zeros(12)):
        for method in ("bca", "percentile"):
            iv = bootstrap_interval(values, method=method, seed=0)
            assert iv.low == iv.high == iv.estimate == values[0]
            assert iv.degenerate and iv.n_resamples == 0 and iv.n == 12
            assert "all 12 values equal" in iv.note


def test_one_image_is_a_degenerate_point():
    iv = bootstrap_interval([0.42], seed=0)
    assert (iv.low, iv.high, iv.estimate, iv.degenerate, iv.n) == (0.42, 0.42, 0.42, True, 1)
    assert "one image" in iv.note


def test_all_equal_bootstrap_statistics_give_a_degenerate_point():
    # The values vary but the statistic (rounded mean) is the same on every resample.
    values = np.linspace(0.0, 0.1, 20)
    iv = bootstrap_interval(values, seed=0, statistic=lambda x, axis=-1: np.round(np.mean(x, axis=axis)))
    assert iv.degenerate and iv.low == iv.high == 0.0 and iv.n_resamples == MIN_RESAMPLES
    assert "bootstrap statistics are equal" in iv.note


def test_bca_falls_back_to_percentile_when_the_estimate_is_outside_every_resample():
    # Number of distinct values: n on the data, fewer on (almost) every resample, so the
    # bias correction z0 = inverse-normal(1) is infinite and BCa is undefined.
    def distinct(x, axis=-1):
        ordered = np.sort(x, axis=axis)
        return 1 + np.count_nonzero(np.diff(ordered, axis=axis), axis=axis)

    values = np.arange(15.0)
    iv = bootstrap_interval(values, method="bca", seed=1, statistic=distinct)
    reference = bootstrap_interval(values, method="percentile", seed=1, statistic=distinct)
    assert iv.method == "percentile" and "BCa undefined" in iv.note
    assert (iv.low, iv.high) == (reference.low, reference.high)
    assert iv.high < iv.estimate == 15


def test_non_finite_values_are_an_error_naming_how_many_and_where():
    values = np.arange(8.0)
    values[[1, 4]] = [np.nan, np.inf]
    with pytest.raises(ValueError, match=r"2 non-finite .* values\[1\], values\[4\]"):
        bootstrap_interval(values, seed=0)
    many = np.full(15, np.nan)
    with pytest.raises(ValueError, match=r"15 non-finite .*values\[9\] and 5 more"):
        bootstrap_interval(many, seed=0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"n_resamples": MIN_RESAMPLES - 1}, "n_resamples must be at least 2000"),
        ({"method": "bc"}, "method must be one of"),
        ({"confidence": 1.0}, "confidence must be strictly between 0 and 1"),
        ({"confidence": 0.0}, "confidence must be strictly between 0 and 1"),
    ],
)
def test_bad_options_are_errors_naming_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval([1.0, 2.0, 3.0], seed=0, **options)


def test_bad_shapes_and_statistics_are_errors():
    with pytest.raises(ValueError, match="values is empty"):
        bootstrap_interval([], seed=0)
    with pytest.raises(ValueError, match="1-D array"):
        bootstrap_interval(np.ones((2, 3)), seed=0)
    with pytest.raises(ValueError, match=r"statistic\(x, axis=-1\)"):
        bootstrap_interval([1.0, 2.0], seed=0, statistic=lambda x, axis=-1: x)
