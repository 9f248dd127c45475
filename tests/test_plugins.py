"""A metric and a method from outside the package, end to end: ``--plugin FILE`` and an
installed entry point; listed, run by ``check``, stored, read by a policy rule, reported."""

import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from saliency_core.cli.main import main
from saliency_core.methods import METHODS
from saliency_core.metrics import METRICS
from saliency_core.store import ResultStore

EXAMPLE = Path(__file__).parent.parent / "docs" / "examples" / "map_entropy_plugin.py"


@pytest.fixture
def plugin():
    yield str(EXAMPLE)
    METRICS.remove("map-entropy")
    METHODS.remove("blur-gradient")
    for name in [m for m in sys.modules if m.startswith("saliency_bench_plugin_")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(
        4, 3, padding="same", activation="tanh", kernel_initializer=keras.initializers.HeNormal(seed=1)
    )(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=3))(x)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_plugin_file_end_to_end(plugin, tiny_model, tmp_path, capsys):
    assert main(["--plugin", plugin, "list", "metrics"]) == 0
    assert "map-entropy" in capsys.readouterr().out
    assert main(["--plugin", plugin, "list", "methods"]) == 0
    listed = capsys.readouterr().out
    assert "blur-gradient" in listed and "sigma=1.0" in listed

    store_path = tmp_path / "s.sqlite"
    argv = [
        "--plugin",
        plugin,
        "check",
        "--model",
        str(tiny_model),
        "--data",
        "synthetic",
        "--images",
        "4",
        "--methods",
        "blur-gradient",
        "--metrics",
        "map-entropy,deletion",
        "--method-option",
        "blur-gradient.sigma=2",
        "--store",
        str(store_path),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "map-entropy" in out
    with ResultStore(store_path) as store:
        run = store.list_runs()[-1].id
        cells = {c.key["metric"]: c for c in store.cells(run, kind="check")}
    entropy = cells["map-entropy"].metrics
    assert cells["map-entropy"].status == "ok" and len(entropy["per_image"]) == 4
    # ln(256) is the entropy of a uniform 16 x 16 map: every map's entropy is below it
    assert all(0 < h <= np.log(256) + 1e-9 for h in entropy["per_image"])
    top = entropy["per_image_statistics"]["top_percent_mass"]
    assert entropy["statistics"]["top_percent_mass"] == pytest.approx(np.mean(top))
    assert all(0.01 <= t <= 1 for t in top)  # the top 1% of pixels hold at least 1% of the mass
    assert entropy["intervals"]["top_percent_mass"]["n"] == 4
    assert entropy["config"]["method_options"] == {"sigma": 2.0}
    assert entropy["info"]["category"] == "complexity"

    policy = tmp_path / "p.toml"
    policy.write_text(
        textwrap.dedent("""
        name = "entropy"
        [[rules]]
        metric = "map-entropy"
        statistic = "top_percent_mass"
        op = ">"
        threshold = 0.0
        why = "The top 1% of pixels must hold some of the map's mass."
    """)
    )
    argv = [
        "--plugin",
        plugin,
        "gate",
        "--model",
        str(tiny_model),
        "--data",
        "synthetic",
        "--images",
        "4",
        "--method",
        "blur-gradient",
        "--policy",
        str(policy),
        "--store",
        str(store_path),
    ]
    assert main(argv) == 0
    assert "PASS" in capsys.readouterr().out

    assert (
        main(
            [
                "--plugin",
                plugin,
                "report",
                run,
                "--store",
                str(store_path),
                "--out",
                str(tmp_path / "report"),
                "--format",
                "md",
            ]
        )
        == 0
    )
    report = (tmp_path / "report" / "report.md").read_text()
    assert "map-entropy" in report and "blur-gradient" in report


def test_a_broken_plugin_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    assert main(["--plugin", str(bad), "list", "metrics"]) == 2
    err = capsys.readouterr().err
    assert "boom" in err and str(bad) in err and err.count("\n") == 1
    assert main(["--plugin", str(tmp_path / "missing.py"), "list", "metrics"]) == 2


def test_installed_entry_point_is_listed(tmp_path):
    """A distribution on sys.path declaring the entry-point group is found at first use."""
    (tmp_path / "entropy_plugin.py").write_text(EXAMPLE.read_text())
    dist = tmp_path / "entropy_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: entropy-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[saliency_bench.metrics]\nentropy = entropy_plugin\n")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "saliency_core.cli", "list", "metrics"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "map-entropy" in out.stdout
