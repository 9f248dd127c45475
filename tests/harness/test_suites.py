"""Suite files: the packaged suites parse; every bad key or value is an error that
names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from saliency_core.harness.suite_checks import CHECKS_DEFAULTS
from saliency_core.harness.suites import Suite, checks_settings, list_suites, load_suite, suites_dir
from saliency_core.harness.suite_schema import SuiteError
from saliency_core.devices import normalize_device
from saliency_core.harness.call_timing import TimingConfig

VALID = """
name = "mini"
models = ["mobilenetv2", "efficientnet-lite0"]
variants = ["eager", "xla"]
batch_sizes = [1, 4]
devices = ["cpu", "GPU"]
image_size = 32
seed = 3

[timing]
min_repeats = 2
max_repeats = 4
budget_s = 0.5
warmup = 0

[chunking]
candidates = [4, 2]
"""


def write(tmp_path, text, name="suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_suite_parses(tmp_path):
    suite = load_suite(write(tmp_path, VALID))
    assert suite.name == "mini"
    assert suite.models == ("mobilenetv2", "efficientnet-lite0")
    assert suite.variants == ("eager", "xla") and suite.batch_sizes == (1, 4)
    assert suite.devices == ("cpu", "gpu:0") and suite.image_size == 32 and suite.seed == 3
    assert suite.timing == TimingConfig(min_repeats=2, max_repeats=4, budget_s=0.5, warmup=0)
    assert suite.chunk_candidates == (2, 4)
    assert suite.weights == "random" and not suite.fresh_process


def test_round_trip_through_the_run_config(tmp_path):
    suite = load_suite(write(tmp_path, VALID))
    assert Suite.from_dict(suite.to_dict()) == suite


@pytest.mark.parametrize("name", ["quick", "backbones", "batch-sweep", "precision"])
def test_packaged_suites_parse_and_are_in_bench(name):
    assert name in list_suites()
    suite = load_suite(name)
    assert suite.name == name
    bench = Path(__file__).resolve().parents[2] / "bench" / "suites" / f"{name}.toml"
    assert bench.is_file() and bench.resolve() == (suites_dir() / f"{name}.toml").resolve()


def test_precision_suite_times_every_precision_and_old_suites_only_float32():
    assert load_suite("precision").precisions == ("float32", "bfloat16", "float16")
    assert load_suite("quick").precisions == ("float32",)


def test_quick_suite_is_small():
    suite = load_suite("quick")
    assert max(suite.batch_sizes) <= 8 and suite.devices == ("cpu",)
    assert suite.timing.budget_s <= 2


@pytest.mark.parametrize(
    "change, key",
    [
        ('colour = "red"', "colour"),  # unknown key
        ('batch_sizes = ["8"]', "batch_sizes[0]"),  # bad element type
        ("batch_sizes = [0]", "batch_sizes[0]"),  # not positive
        ("batch_sizes = 8", "batch_sizes"),  # not an array
        ('variants = ["jit"]', "variants[0]"),  # unknown variant
        ('devices = ["tpu"]', "devices[0]"),  # unknown device
        ('models = ["resnet5O"]', "models[0]"),  # unknown model
        ("models = []", "models"),  # empty
        ("image_size = 3.5", "image_size"),  # wrong type
        ("fresh_process = 1", "fresh_process"),  # int is not a bool
        ("[timing]\nrepeats = 3", "timing.repeats"),  # unknown nested key
        ('[timing]\nbudget_s = "1s"', "timing.budget_s"),  # nested wrong type
        ("[timing]\nmin_repeats = true", "timing.min_repeats"),  # bool is not an int
        ('[checks]\ncolour = "red"', "checks.colour"),  # unknown [checks] key
        ('[checks]\nimages = "7"', "checks.images"),  # [checks] wrong type
        ("[checks]\nimages = 0", "checks.images"),  # not positive
        ('[checks]\nmethods = ["gradcam"]', "checks.methods[0]"),  # unknown method
        ('[checks]\nmetrics = ["deleton"]', "checks.metrics[0]"),  # unknown metric
        ('[checks]\nvariant = "jit"', "checks.variant"),  # unknown variant
        ('[checks]\ngate_method = "x"', "checks.gate_method"),  # unknown method
        ('[checks]\npolicy = "no-such-policy"', "checks.policy"),  # no such policy
        ('[checks]\nmetrics = ["deletion", "data-randomization"]', "checks.metrics[1]"),  # retrains
        ('[checks]\nmetrics = ["pointing-game"]', "checks.metrics[0]"),  # photos have no masks
        ("[checks.metric_settings.smprt]\nnope = 1", "checks.metric_settings.smprt"),  # no such setting
        ('[checks.metric_settings.emprt]\nbins = "many"', "checks.metric_settings.emprt"),  # wrong type
        ("[checks.metric_settings.emprt-x]\nbins = 1", "checks.metric_settings.emprt-x"),  # no metric
    ],
)
def test_bad_key_or_type_names_file_and_key(tmp_path, change, key):
    top = {"name": '"bad"', "models": '["mobilenetv2"]', "variants": '["eager"]', "batch_sizes": "[1]"}
    table = ""
    if change.startswith("["):
        table = change
    else:
        name, value = change.split(" = ", 1)
        top[name] = value
    text = "\n".join(f"{k} = {v}" for k, v in top.items()) + "\n" + table + "\n"
    with pytest.raises(SuiteError) as info:
        load_suite(write(tmp_path, text, "bad-suite.toml"))
    message = str(info.value)
    assert "bad-suite.toml" in message and repr(key) in message


def test_checks_settings_fill_in_defaults_from_a_suite_or_its_stored_form(tmp_path):
    suite = load_suite(write(tmp_path, VALID + '\n[checks]\nimages = 3\nmethods = ["edge"]\n'))
    settings = checks_settings(suite)
    from saliency_core.checks.settings import default_check_methods, primary_method
    from saliency_core.metrics import default_metrics

    resolved = {
        "metrics": default_metrics(),
        "gate_method": primary_method(),
        "map_methods": default_check_methods(chance_baseline=False),
    }
    assert settings == {**CHECKS_DEFAULTS, **resolved, "images": 3, "methods": ["edge"]}
    assert settings["gate_method"] in settings["map_methods"]
    assert checks_settings(suite.to_dict()) == settings
    assert checks_settings(load_suite(write(tmp_path, VALID, "plain.toml"))) is None
    assert checks_settings(load_suite("quick"))["model"] == "efficientnet-lite0"


def test_a_suite_lists_the_newer_randomization_metrics_with_their_settings(tmp_path):
    text = VALID + (
        '\n[checks]\nmetrics = ["smprt", "emprt"]\n'
        "[checks.metric_settings.smprt]\nsamples = 8\nnoise_level = 0.2\n"
    )
    settings = checks_settings(load_suite(write(tmp_path, text)))
    assert settings["metrics"] == ["smprt", "emprt"]
    assert settings["metric_settings"] == {"smprt": {"samples": 8, "noise_level": 0.2}}


def test_missing_required_key(tmp_path):
    path = write(tmp_path, 'name = "x"\nmodels = ["mobilenetv2"]\nvariants = ["eager"]\n')
    with pytest.raises(SuiteError, match=r"suite\.toml: key 'batch_sizes': is required"):
        load_suite(path)


def test_inconsistent_timing_table(tmp_path):
    path = write(tmp_path, VALID.replace("max_repeats = 4", "max_repeats = 1"))
    with pytest.raises(SuiteError, match=r"suite\.toml: table 'timing': max_repeats"):
        load_suite(path)


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(SuiteError, match=r"broken\.toml: not valid TOML"):
        load_suite(write(tmp_path, "name = [", "broken.toml"))
    with pytest.raises(SuiteError, match="no suite 'nonesuch'.*quick"):
        load_suite("nonesuch")


def test_device_names():
    assert normalize_device("gpu") == "gpu:0" and normalize_device("GPU:1") == "gpu:1"
    assert normalize_device("cpu") == "cpu"
    with pytest.raises(ValueError):
        normalize_device("gpu:x")
