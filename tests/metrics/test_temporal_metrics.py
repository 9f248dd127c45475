"""The two temporal metrics, "temporal-stability" and "motion-agreement", through
run_checks on a tiny CNN and the bundled video (64 px, 6 frames).

Exact cases: maps identical on every frame are perfectly stable; a map that is the
frame itself is exactly as stable as the frames (ratio 1, checked against
scipy.stats.spearmanr); the motion reference agrees with itself exactly. Chance
cases use closed-form null spreads: the Spearman correlation of a ranking with an
independent random one has variance 1 / (n - 1) (permutation null, ties on one side
included), and the |map| mass of an i.i.d. map inside a mask covering a fraction p
of n pixels has standard deviation cv * sqrt(p (1 - p) / n), cv = sd / mean of the
pixel values (1 / sqrt(3) for the uniform random control).
"""

import numpy as np
import pytest
from scipy.stats import spearmanr

from saliency_core.checks import chance_baseline, run_checks
from saliency_core.checks.check_runner import selected_metrics
from saliency_core.data.check_data import load_check_data
from saliency_core.methods import METHODS, Method, flagged_method, register_method
from saliency_core.metrics import METRICS
from saliency_core.models.classifier import as_classifier

from ..core.models_for_tests import small_cnn

SIDE, T = 64, 6
STABILITY, AGREEMENT = "temporal-stability", "motion-agreement"
N_PIXELS = SIDE * SIDE
RANK_NULL_SD = 1.0 / np.sqrt(N_PIXELS - 1)


class StillMap(Method):
    """The same map on every frame."""

    name = "test-still-map"
    kind = "control"

    def attribute(self, ctx, opts):
        one = np.random.default_rng(7).random(ctx.images.shape[1:3])
        return np.repeat(one[None], len(ctx.images), axis=0)


class FrameMap(Method):
    """Each frame's channel mean: a map exactly as stable as its input."""

    name = "test-frame-map"
    kind = "control"

    def attribute(self, ctx, opts):
        return ctx.images.astype(np.float64).mean(axis=-1)  # as the metric reduces frames


@pytest.fixture(scope="module", autouse=True)
def test_methods():
    for cls in (StillMap, FrameMap):
        register_method(cls)
    yield
    for cls in (StillMap, FrameMap):
        METHODS.remove(cls.name)


@pytest.fixture(scope="module")
def data():
    clf = as_classifier(small_cnn(size=SIDE))
    return clf, load_check_data("video", clf, max_frames=T)


@pytest.fixture(scope="module")
def report(data):
    clf, d = data
    motion = flagged_method("motion_reference")
    return run_checks(
        clf,
        d.images,
        methods=["gradient", motion, chance_baseline(), StillMap.name, FrameMap.name],
        metrics=[STABILITY, AGREEMENT],
        seed=0,
        data_name=d.name,
        masks=d.masks,
        sequence=d.sequence,
        variant="function",
        batch_size=4,
    )


def test_declarations():
    for name in (STABILITY, AGREEMENT):
        metric = METRICS.get(name)
        assert metric.category == "temporal" and metric.direction == "higher"
        assert metric.needs == {"maps", "sequence"}
    assert {STABILITY, AGREEMENT} <= set(selected_metrics(None, has_masks=True, sequence=True))
    assert not {STABILITY, AGREEMENT} & set(selected_metrics(None, has_masks=True))
    [reference] = [m for m in METHODS if m.motion_reference]
    assert reference.name == flagged_method("motion_reference")
    assert reference.kind == "control" and reference.needs_sequence


def test_every_cell_reports_its_declared_statistics(report):
    for r in report.results:
        assert r.ok, (r.method, r.metric, r.reason)
        assert set(r.statistics) == set(METRICS.get(r.metric).statistics)
    assert all(len(report.get(m, STABILITY).per_image) == T - 1 for m in report.methods)
    assert all(len(report.get(m, AGREEMENT).per_image) == T for m in report.methods)


def test_identical_maps_are_perfectly_stable(report):
    r = report.get(StillMap.name, STABILITY)
    np.testing.assert_array_equal(r.per_image, 1.0)
    assert r.value == 1.0 and r.statistics["maps_ssim"] == 1.0
    assert r.statistics["ratio"] == 1.0 / r.statistics["frames"]
    assert r.statistics["difference"] == 1.0 - r.statistics["frames"]


def test_a_map_that_is_the_frame_is_exactly_as_stable_as_the_frames(report, data):
    _, d = data
    gray = d.images.astype(np.float64).mean(axis=-1).reshape(T, -1)
    scipy_pairs = [spearmanr(gray[t], gray[t + 1])[0] for t in range(T - 1)]
    r = report.get(FrameMap.name, STABILITY)
    # Ranks are exact; the correlation sums n products of size <= n^2, so its rounding is
    # below n * eps relative (4096 * 2.2e-16 = 9e-13).
    tol = 10 * N_PIXELS * np.finfo(np.float64).eps
    np.testing.assert_allclose(r.per_image, scipy_pairs, rtol=0, atol=tol)
    assert abs(r.statistics["frames"] - np.mean(scipy_pairs)) < tol
    assert r.statistics["ratio"] == pytest.approx(1.0, abs=tol)
    assert 0.5 < r.statistics["frames"] < 1.0  # the object moves, the background does not


def test_random_maps_have_no_stability_and_no_motion_agreement(report, data):
    _, d = data
    stability = report.get(chance_baseline(), STABILITY)
    agreement = report.get(chance_baseline(), AGREEMENT)
    assert np.abs(stability.per_image).max() < 5 * RANK_NULL_SD
    assert np.abs(agreement.per_image).max() < 5 * RANK_NULL_SD
    p = d.masks.reshape(T, -1).mean(axis=1)
    sd = np.sqrt(1.0 / 3.0) * np.sqrt(p * (1 - p) / N_PIXELS)
    chance = agreement.statistics["chance"]
    assert chance == pytest.approx(p.mean(), rel=1e-12)
    assert abs(agreement.statistics["mask_mass"] - chance) < 5 * sd.mean()
    assert abs(agreement.statistics["mass_ratio"] - 1.0) < 5 * sd.mean() / chance


def test_the_motion_reference_agrees_with_itself_and_lies_on_the_object(report):
    r = report.get(flagged_method("motion_reference"), AGREEMENT)
    np.testing.assert_array_equal(r.per_image, 1.0)
    assert r.config["motion_reference"] == flagged_method("motion_reference")
    assert r.statistics["mass_ratio"] > 3  # as in the motion method's own tests
    assert report.get(flagged_method("motion_reference"), STABILITY).value > 0.9


def test_still_images_are_refused_naming_the_metric(data):
    clf, d = data
    for name in (STABILITY, AGREEMENT):
        with pytest.raises(ValueError, match=f"{name} needs consecutive video frames"):
            run_checks(clf, d.images, methods=["gradient"], metrics=[name], seed=0, data_name="stills")


def test_without_masks_the_mask_statistics_are_nan_and_said_so(data):
    clf, d = data
    r = run_checks(
        clf,
        d.images,
        methods=[StillMap.name],
        metrics=[AGREEMENT],
        seed=0,
        data_name=d.name,
        sequence=True,
        variant="function",
    ).results[0]
    assert r.ok and np.isfinite(r.value)
    assert all(np.isnan(v) for v in r.statistics.values())
    assert "none given" in r.config["masks"]


def test_two_motion_references_are_an_error_naming_both(data):
    clf, d = data

    class OtherMotion(Method):
        name = "test-other-motion"
        kind = "control"
        needs_sequence = True
        motion_reference = True

        def attribute(self, ctx, opts):
            return np.zeros(ctx.images.shape[:3])

    register_method(OtherMotion)
    try:
        r = run_checks(
            clf,
            d.images,
            methods=[StillMap.name],
            metrics=[AGREEMENT],
            seed=0,
            data_name=d.name,
            sequence=True,
            variant="function",
        ).results[0]
    finally:
        METHODS.remove(OtherMotion.name)
    assert not r.ok and "motion_reference" in r.reason and OtherMotion.name in r.reason
    with pytest.raises(ValueError, match="not a boolean attribute"):
        flagged_method("no_such_role")


def test_artifacts_for_the_report(data, tmp_path):
    """Per-frame series and a strip of frames are stored with each cell."""
    from saliency_core.store import ResultStore

    clf, d = data
    with ResultStore(tmp_path / "results.sqlite") as store:
        run = store.start_run("check", config={}, seed=0)
        run_checks(
            clf,
            d.images,
            methods=[FrameMap.name],
            metrics=[STABILITY, AGREEMENT],
            seed=0,
            data_name=d.name,
            masks=d.masks,
            sequence=True,
            store=store,
            run_id=run,
            variant="function",
        )
        cells = {c.key["metric"]: c for c in store.cells(run, kind="check")}
        stab = cells[STABILITY]
        series = store.artifact(stab.id, "series")
        assert series.shape == (4, T - 1)  # maps and frames, for Spearman and SSIM
        info = stab.metrics["series_info"]
        main = [i for i, s in enumerate(info) if s["label"] == "maps (Spearman |map|)"]
        np.testing.assert_array_equal(series[main[0]], stab.metrics["per_image"])
        np.testing.assert_array_equal(store.artifact(stab.id, "series_x"), np.arange(T - 1) + 0.5)
        np.testing.assert_array_equal(store.artifact(stab.id, "strip_index"), [0, 2, 3, 5])
        frames = store.artifact(stab.id, "strip_frames")
        assert frames.dtype == np.uint8 and frames.shape == (4, SIDE, SIDE, 3)
        agree = cells[AGREEMENT]
        assert [s["reference"] for s in agree.metrics["series_info"]] == [False, False, True]
        np.testing.assert_allclose(
            store.artifact(agree.id, "series")[2], d.masks.reshape(T, -1).mean(axis=1), rtol=1e-12
        )
