"""The contract every registered method keeps, run over the whole registry.

A new method is covered by being registered: shape, finiteness, seed reproducibility,
one trace of the compiled function, and the same maps whether an image is explained
alone, in a padded chunk or in the whole batch. Controls must ignore the model.
"""

import numpy as np
import pytest

from saliency_core import Explainer
from saliency_core.methods import METHODS, get_method

from ..core.models_for_tests import images, small_cnn

STILL = [m.name for m in METHODS if not m.needs_sequence]
SEQUENCE = [m.name for m in METHODS if m.needs_sequence]
FAST_OPTIONS = {"samples": 3, "steps": 4}  # small sample counts, where a method has them


def fast_options(name):
    fields = get_method(name).describe()["options"]
    return {k: v for k, v in FAST_OPTIONS.items() if k in fields}


def explain(explainer, x, name, seed=0, **kw):
    return explainer.explain(x, method=name, options=fast_options(name), seed=seed, **kw)


@pytest.fixture(scope="module")
def model():
    return small_cnn("float64", size=32)


@pytest.fixture(scope="module")
def x():
    return np.abs(images(3, size=32, dtype="float64")) * 60.0


@pytest.mark.parametrize("name", STILL)
def test_shape_finite_and_seeded(model, x, name):
    ex = Explainer(model, variant="function", batch_size=4)
    a = explain(ex, x, name, seed=1)
    assert a.maps.shape == x.shape[:3] and np.isfinite(a.maps).all()
    assert a.method == name and a.options["seed"] == 1
    np.testing.assert_array_equal(explain(ex, x, name, seed=1).maps, a.maps)
    full = explain(ex, x, name, seed=1, reduce="none")
    assert full.maps.shape == x.shape
    assert ex.fn.traces == 1  # every method reuses the one compiled function


@pytest.mark.parametrize("name", STILL)
def test_batch_size_invariance(model, x, name):
    """Batch 1, a padded chunk (batch 2 over 3 images) and the whole batch agree; the
    floor is the float64 rounding of summing the same terms in another order."""
    maps = [
        explain(Explainer(model, variant="function", batch_size=b), x, name, seed=2).maps for b in (1, 2, 3)
    ]
    scale = max(np.abs(maps[2]).max(), np.finfo(np.float64).tiny)
    for m in maps[:2]:
        np.testing.assert_allclose(m, maps[2], rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("name", [m.name for m in METHODS if m.kind == "control" and not m.needs_sequence])
def test_controls_ignore_the_model(x, name):
    a = explain(Explainer(small_cnn("float64", size=32, seed=0), variant="eager"), x, name).maps
    b = explain(Explainer(small_cnn("float64", size=32, seed=9), variant="eager"), x, name).maps
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", SEQUENCE)
def test_sequence_methods_refuse_still_images(model, x, name):
    with pytest.raises(ValueError, match="video frames"):
        explain(Explainer(model, variant="eager"), x, name)


def test_declarations_are_checked():
    from dataclasses import dataclass

    from saliency_core.methods import Method, register_method

    @dataclass(frozen=True)
    class NeedsValue:
        size: int

    with pytest.raises(TypeError, match="every option needs a default"):
        register_method(
            type("Bad", (Method,), {"name": "bad-options", "kind": "control", "options": NeedsValue})
        )
    with pytest.raises(ValueError, match="kind must be"):
        register_method(type("Bad", (Method,), {"name": "bad-kind", "kind": "gradient"}))
    with pytest.raises(ValueError, match="already registered"):
        register_method(type("Dup", (Method,), {"name": STILL[0], "kind": "control"}))
    assert "bad-options" not in METHODS and "bad-kind" not in METHODS


def test_unknown_options_name_the_method_and_the_option():
    from saliency_core.methods import parse_method_options, resolve_options

    name = next(m.name for m in METHODS if m.describe()["options"])
    field, default = next(iter(get_method(name).describe()["options"].items()))
    with pytest.raises(ValueError, match=f"method '{name}' has no option 'nope'"):
        resolve_options(get_method(name), {"nope": 1})
    with pytest.raises(ValueError, match="expected METHOD.OPTION=VALUE"):
        parse_method_options([f"{name}{field}=1"])
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        parse_method_options([f"nope.{field}=1"])
    parsed = parse_method_options([f"{name}.{field}={default}"])
    assert resolve_options(get_method(name), parsed[name]) == get_method(name).options()
