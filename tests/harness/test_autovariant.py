"""``variant="auto"``: the decision from injected measurements, the cache on disk, the
rule when nothing is measured, and the interleaved measurement on a scripted clock
(no timing assertion on the real machine)."""

from __future__ import annotations

import json

import pytest

from saliency_core import as_classifier
from saliency_core.harness import autovariant as av
from saliency_core.harness import variant_cache, variant_measure
from saliency_core.harness.call_timing import TimingConfig
from saliency_core.harness.variant_measure import Measurement
from saliency_core.harness.autovariant import choose_variant, decide

from ..core.models_for_tests import small_cnn


@pytest.fixture(scope="module")
def clf():
    return as_classifier(small_cnn(size=8), name="tiny-cnn")


def measurements(fn_first, fn_call, xla_first, xla_call):
    return {
        "function": Measurement(first_call_s=fn_first, median_s=fn_call),
        "xla": Measurement(first_call_s=xla_first, median_s=xla_call),
    }


def test_decide_counts_the_compile_for_few_calls_and_the_rate_for_many():
    # xla: 20 s to compile, 0.1 s a call; function: 2 s, 0.2 s a call. Break-even at
    # 1 + (20 - 2) / (0.2 - 0.1) = 181 calls.
    m = measurements(2.0, 0.2, 20.0, 0.1)
    assert decide(m, 1)[0] == "function"
    assert decide(m, 180)[0] == "function"
    assert decide(m, 182)[0] == "xla"
    variant, reason = decide(m, 1000)
    assert "1000 call(s)" in reason and "xla 100 ms/call" in reason
    failed = {"function": Measurement(error="boom"), "xla": Measurement(1.0, 0.5)}
    variant, reason = decide(failed, 1)
    assert variant == "xla" and "function failed (boom)" in reason
    assert decide({"xla": Measurement(error="no kernel")}, 1) is None


def test_choice_is_measured_once_then_read_from_the_cache(clf, tmp_path):
    cache = tmp_path / "auto.json"
    seen = []

    def measure(classifier, *, device, precision, batch_size):
        seen.append((device, precision, batch_size))
        return measurements(1.0, 0.3, 5.0, 0.1)

    first = choose_variant(
        clf,
        device="cpu",
        precision="bfloat16",
        batch_size=4,
        calls=100,
        cache=cache,
        measure=measure,
        tf_version="9.9",
    )
    assert first.variant == "xla" and first.source == "measured"
    assert seen == [("cpu", "bfloat16", 4)]  # measured at the caller's precision
    assert "|bfloat16|" in first.key and "|tf9.9|" in first.key and "|cpu|" in first.key
    assert "cached in" in first.reason and cache.exists()

    def must_not_measure(*args, **kwargs):
        raise AssertionError("measured again")

    again = choose_variant(
        clf,
        device="cpu",
        precision="bfloat16",
        batch_size=4,
        calls=1,
        cache=cache,
        measure=must_not_measure,
        tf_version="9.9",
    )
    assert again.source == "cache" and again.variant == "function"  # 1 call: compile counts
    assert again.line().startswith("variant auto -> function (cache): ")
    # another TF version, precision or batch size is another key: measured again
    choose_variant(
        clf,
        device="cpu",
        precision="float32",
        batch_size=4,
        calls=1,
        cache=cache,
        measure=measure,
        tf_version="9.9",
    )
    choose_variant(
        clf,
        device="cpu",
        precision="bfloat16",
        batch_size=4,
        calls=1,
        cache=cache,
        measure=measure,
        tf_version="10.0",
    )
    assert len(seen) == 3
    assert len(json.loads(cache.read_text())["entries"]) == 3


def test_unreadable_cache_is_measured_again_and_unwritable_is_said(clf, tmp_path):
    cache = tmp_path / "auto.json"
    cache.write_text("{not json")
    choice = choose_variant(
        clf,
        device="cpu",
        batch_size=2,
        cache=cache,
        measure=lambda c, **kw: measurements(1.0, 0.1, 2.0, 0.1),
        tf_version="9.9",
    )
    assert choice.source == "measured" and json.loads(cache.read_text())["version"] == 1
    blocker = tmp_path / "file"
    blocker.write_text("")
    choice = choose_variant(
        clf,
        device="cpu",
        batch_size=2,
        cache=blocker / "auto.json",
        measure=lambda c, **kw: measurements(1.0, 0.1, 2.0, 0.1),
        tf_version="9.9",
    )
    assert choice.variant == "function" and "not cached:" in choice.reason


def test_rule_when_nothing_can_be_measured(clf, tmp_path):
    def all_fail(classifier, **kw):
        return {"function": Measurement(error="A"), "xla": Measurement(error="B")}

    choice = choose_variant(clf, device="cpu", cache=tmp_path / "a.json", measure=all_fail, tf_version="9.9")
    assert choice.source == "rule" and choice.variant == av.RULE["cpu"][0] == "function"
    assert "nothing could be measured: function: A; xla: B" in choice.reason
    assert not (tmp_path / "a.json").exists()  # failures are not cached
    choice = choose_variant(clf, device="cpu", cache=tmp_path / "a.json", measure=None, tf_version="9.9")
    assert choice.source == "rule" and "(not measured)" in choice.reason
    assert av.rule_choice("gpu")[0] == "xla"


class ScriptedCall:
    """A prepared call that advances a fake clock by a scripted number of seconds."""

    def __init__(self, clock, seconds, log, name):
        self.clock, self.seconds, self.log, self.name = clock, list(seconds), log, name

    def __call__(self):
        self.log.append(self.name)
        self.clock.now += self.seconds.pop(0) if len(self.seconds) > 1 else self.seconds[0]


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_measure_variants_interleaves_and_takes_medians_on_a_scripted_clock(clf):
    clock, log = Clock(), []
    # binary fractions, so the fake clock's sums and differences are exact
    script = {"function": [3.0, 0.25, 0.5, 0.375], "xla": [9.0, 0.125, 0.125, 0.5]}

    def prepare(classifier, *, variant, batch_size, device, seed, precision):
        assert precision == "float16" and batch_size == 4
        if variant == "eager":
            raise RuntimeError("no eager here")
        return ScriptedCall(clock, script[variant], log, variant), None, batch_size

    config = TimingConfig(min_repeats=3, max_repeats=3, budget_s=0.0, warmup=0)
    out = variant_measure.measure_variants(
        clf,
        device="cpu",
        precision="float16",
        batch_size=4,
        candidates=("eager", "function", "xla"),
        config=config,
        prepare=prepare,
        clock=clock,
    )
    assert out["eager"].error == "RuntimeError: no eager here"
    assert out["function"] == Measurement(first_call_s=3.0, median_s=0.375)
    assert out["xla"] == Measurement(first_call_s=9.0, median_s=0.125)
    # first calls, then rounds of one call each
    assert log == ["function", "xla"] + ["function", "xla"] * 3


def test_auto_on_the_command_line_prints_its_choice_on_stderr(tmp_path, capsys, monkeypatch):
    """``explain`` with the default ``--variant auto`` on a tiny model file: the choice is
    one stderr line and the explanation runs with it (measured for real, not timed)."""
    from saliency_core.cli.main import main

    monkeypatch.setenv("SALIENCY_BENCH_CACHE", str(tmp_path / "cache"))
    import numpy as np
    from PIL import Image

    path = tmp_path / "tiny.keras"
    small_cnn(size=8).save(path)
    img = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(img)
    capsys.readouterr()
    code = main(
        ["explain", str(img), "--model", str(path), "--batch-size", "1", "--out", str(tmp_path / "fig.png")]
    )
    err = capsys.readouterr().err
    assert code == 0
    [line] = [x for x in err.splitlines() if "variant auto ->" in x]
    assert "(measured)" in line and "least time for 1 call(s)" in line
    assert (tmp_path / "cache" / variant_cache.CACHE_NAME).exists()
