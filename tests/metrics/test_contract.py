"""The contract every registered metric keeps, run over the whole registry.

On a linear model whose class evidence sits in a high-frequency pattern inside an
object patch, the exact attribution (each input's contribution, gradient times
input) must score better than the chance baseline in the metric's declared
direction; its declared statistics must be the ones it reports; a constant map must
give a finite value or a clear failure, never a crash. A new metric is covered by
being registered (metrics that need trained networks or video frames are covered
by their own tests and listed in SKIPPED with the reason).
"""

import keras
import numpy as np
import pytest

from saliency_core.checks import CheckSettings, chance_baseline, run_checks
from saliency_core.methods import METHODS, Method, register_method
from saliency_core.metrics import METRICS

SIZE, N = 16, 6
SKIPPED = {
    m.name: f"needs {', '.join(sorted(m.needs & {'networks', 'sequence'}))}"
    for m in METRICS
    if m.needs & {"networks", "sequence"}
}
COVERED = [m.name for m in METRICS if m.name not in SKIPPED]


class Exact(Method):
    """Each input's contribution to a linear model's score: gradient times input."""

    name = "contract-exact"
    kind = "attribution"

    def attribute(self, ctx, opts):
        return ctx.clean * ctx.images


class Constant(Method):
    """A degenerate map: zero everywhere."""

    name = "contract-constant"
    kind = "control"

    def attribute(self, ctx, opts):
        return np.zeros(ctx.images.shape[:3])


@pytest.fixture(scope="module", autouse=True)
def test_methods():
    for cls in (Exact, Constant):
        register_method(cls)
    yield
    for cls in (Exact, Constant):
        METHODS.remove(cls.name)


def scene(seed=0):
    """Images, object masks and a 3-class linear model (class 0's weights on the white
    cells of a checkerboard only; images 1 on those cells inside a random 8x8 patch, so
    a blur halves the evidence, imputing an irrelevant pixel from its neighbours adds
    none, and class 0 is every image's top-1)."""
    rng = np.random.default_rng(seed)
    checker = np.where(np.add.outer(np.arange(SIZE), np.arange(SIZE)) % 2 == 0, 1.0, -1.0)
    w0 = (checker[..., None] > 0) * rng.lognormal(0.0, 0.5, (SIZE, SIZE, 3))
    x = np.zeros((N, SIZE, SIZE, 3), np.float32)
    masks = np.zeros((N, SIZE, SIZE), bool)
    for i in range(N):
        r, c = rng.integers(0, SIZE - 8, 2)
        masks[i, r : r + 8, c : c + 8] = True
        x[i][masks[i] & (checker > 0)] = 1.0
    w0 *= 12.0 / np.mean([(w0 * xi).sum() for xi in x])  # clean logit about +6
    kernel = np.stack([w0.ravel(), *rng.normal(0, 0.01, (2, w0.size))], axis=1)
    inputs = keras.Input((SIZE, SIZE, 3))
    dense = keras.layers.Dense(3, name="dense")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel.astype(np.float32), np.array([-6.0, 0.0, 0.0], np.float32)])
    return model, x, masks


@pytest.fixture(scope="module")
def report():
    model, x, masks = scene()
    settings = CheckSettings(step_maps_image=None)
    return run_checks(
        model,
        x,
        methods=["contract-exact", "contract-constant", chance_baseline()],
        metrics=COVERED,
        seed=0,
        data_name="contract",
        masks=masks,
        variant="function",
        batch_size=4,
        settings=settings,
    )


@pytest.mark.parametrize("name", COVERED)
def test_reports_its_declared_statistics(report, name):
    result = report.get("contract-exact", name)
    assert result.ok, result.reason
    metric = METRICS.get(name)
    assert set(result.statistics) == set(metric.statistics)
    assert len(result.per_image) == N and np.isfinite(result.value)
    assert result.direction == metric.direction and result.info["category"] == metric.category


@pytest.mark.parametrize("name", COVERED)
def test_exact_attribution_beats_the_chance_baseline(report, name):
    exact, chance = report.get("contract-exact", name), report.get(chance_baseline(), name)
    assert exact.ok and chance.ok
    sign = 1.0 if METRICS.get(name).direction == "higher" else -1.0
    assert sign * (exact.value - chance.value) > 0, (exact.value, chance.value)


@pytest.mark.parametrize("name", COVERED)
def test_a_constant_map_gives_a_finite_value_or_a_stated_failure(report, name):
    result = report.get("contract-constant", name)
    if result.ok:
        assert np.isfinite(result.value)
    else:
        assert result.reason and "Error" in result.reason.split(":")[0]


def test_skipped_metrics_have_their_own_tests():
    """Metrics this contract cannot run say why, and another test module runs them."""
    from pathlib import Path

    tests = Path(__file__).parent.parent
    for name, why in SKIPPED.items():
        users = [
            p
            for p in tests.rglob("test_*.py")
            if p.name != Path(__file__).name and f'"{name}"' in p.read_text()
        ]
        assert users, f"{name} ({why}) is run by no test"


def test_curve_metrics_score_the_class_the_map_explains():
    """A map made for class 2 (not the top-1) is scored on class 2's probability."""
    model, x, masks = scene()
    curves = [m.name for m in METRICS if m.category == "faithfulness"]
    report = run_checks(
        model,
        x,
        methods=["contract-exact"],
        metrics=curves,
        seed=0,
        data_name="contract",
        variant="function",
        targets=[2] * N,
    )
    top1 = run_checks(
        model, x, methods=["contract-exact"], metrics=curves, seed=0, data_name="contract", variant="function"
    )
    for name in curves:
        explained, default = report.get("contract-exact", name), top1.get("contract-exact", name)
        assert explained.ok and explained.config["targets"] == [2] * N
        assert default.config["targets"] == [0] * N
        assert explained.value != default.value
