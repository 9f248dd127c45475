"""Video on the command line: ``explain video --out x.gif`` and ``check --data video``,
in-process on a tiny random CNN (16 x 16 input)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from PIL import Image

from saliency_core.cli.main import main
from saliency_core.store import ResultStore


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


def test_explain_video_writes_an_animated_gif_and_a_summary(tiny_model, tmp_path, capsys):
    out = tmp_path / "x.gif"
    assert (
        main(
            [
                "explain",
                "video",
                "--model",
                str(tiny_model),
                "--variant",
                "function",
                "--max-frames",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "video: 5 frames at 12 fps" in printed and printed.count("video-000") == 5
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5
        assert gif.info["duration"] == 80  # 1/12 s rounded to 10 ms
    with Image.open(tmp_path / "x-summary.png") as png:
        assert png.format == "PNG" and png.size[1] > png.size[0]  # 4 rows of 3 panels


def test_explain_refuses_mismatched_outputs(tiny_model, tmp_path, capsys):
    assert main(["explain", "video", "--model", str(tiny_model), "--out", str(tmp_path / "x.png")]) == 2
    assert ".gif or .mp4" in capsys.readouterr().err
    assert main(["explain", "photos", "--model", str(tiny_model), "--out", str(tmp_path / "x.gif")]) == 2
    assert "must be a .png" in capsys.readouterr().err
    assert (
        main(["explain", "video", "--model", str(tiny_model), "--fps", "0", "--out", str(tmp_path / "x.gif")])
        == 2
    )
    assert "--fps" in capsys.readouterr().err


def test_check_on_the_bundled_video_records_the_temporal_metrics(tiny_model, tmp_path, capsys):
    store_path, out = tmp_path / "results.sqlite", tmp_path / "check.json"
    assert (
        main(
            [
                "check",
                "--model",
                str(tiny_model),
                "--data",
                "video",
                "--max-frames",
                "4",
                "--methods",
                "gradient,motion,random",
                "--metrics",
                "temporal-stability,motion-agreement",
                "--store",
                str(store_path),
                "--json",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "data video, 4 frames" in printed
    results = {(r["method"], r["metric"]): r for r in json.loads(out.read_text())["results"]}
    assert results[("motion", "motion-agreement")]["per_image"] == [1.0] * 4
    assert len(results[("gradient", "temporal-stability")]["per_image"]) == 3
    with ResultStore(store_path) as store:
        [run] = store.list_runs()
        assert run.config["sequence"] is True and run.config["frame_rate"] == 12.0
        np.testing.assert_allclose(run.config["timestamps"], np.arange(4) / 12.0)
        assert all(c.status == "ok" for c in store.cells(run.id, kind="check"))


def test_still_images_with_a_sequence_metric_name_the_metric(tiny_model, tmp_path, capsys):
    assert (
        main(
            [
                "check",
                "--model",
                str(tiny_model),
                "--data",
                "synthetic",
                "--images",
                "2",
                "--metrics",
                "motion-agreement",
                "--store",
                str(tmp_path / "r.sqlite"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "motion-agreement needs consecutive video frames" in err and "'synthetic'" in err
