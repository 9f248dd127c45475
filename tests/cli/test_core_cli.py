"""The explain and list commands, end to end, including their error exits."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from saliency_core.cli.main import main


@pytest.fixture
def user_model(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "tiny.keras"
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)).save(path)
    return path


@pytest.fixture
def image_dir(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / "gray.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return folder


def test_explain_writes_the_figure_and_prints_top_classes(user_model, image_dir, tmp_path, capsys):
    out = tmp_path / "fig.png"
    with pytest.warns(UserWarning, match="broken.jpg"):
        code = main(
            [
                "explain",
                str(image_dir),
                "--model",
                str(user_model),
                "--preprocessing",
                "tf",
                "--variant",
                "function",
                "--top",
                "3",
                "--out",
                str(out),
            ]
        )
    assert code == 0
    printed = capsys.readouterr().out
    assert "a.png:" in printed and "gray.png:" in printed and "broken.jpg:" not in printed
    assert printed.count("  1. ") == 2 and "  3. " in printed and "  4. " not in printed
    figure = np.asarray(Image.open(out))
    assert figure.shape[0] > figure.shape[1] / 3  # two rows of (map, input, overlay)


def test_missing_image_and_bad_out_are_exit_code_2(user_model, tmp_path, capsys):
    assert (
        main(
            [
                "explain",
                str(tmp_path / "nope.jpg"),
                "--model",
                str(user_model),
                "--out",
                str(tmp_path / "f.png"),
            ]
        )
        == 2
    )
    assert "nope.jpg" in capsys.readouterr().err
    assert main(["explain", "photos", "--model", str(user_model), "--out", str(tmp_path / "f.jpg")]) == 2


def test_offline_imagenet_weights_one_line_exit_2_no_traceback(tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI's own default, as in a user's shell
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saliency_core",
            "explain",
            "photos",
            "--model",
            "resnet50",
            "--out",
            str(tmp_path / "f.png"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # TensorFlow's start-up lines on fd 2 are captured by the CLI: the error is all there is.
    [line] = proc.stderr.splitlines()
    assert line.startswith("saliency-bench: error:") and "resnet50" in line and "--weights" in line


def test_verbose_keeps_tensorflow_start_up_output_and_a_failed_import_shows_it(monkeypatch, capfd):
    from saliency_core.cli import main as cli_main

    monkeypatch.setitem(sys.modules, "tensorflow", None)  # "import tensorflow" now raises
    with pytest.raises(ImportError):
        cli_main.import_tensorflow_quietly()
    os.write(2, b"after\n")  # fd 2 is restored
    assert capfd.readouterr().err.endswith("after\n")


def test_list_models(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "efficientnet-lite0" in out and "inceptionv3" in out


def test_warnings_print_as_one_line_and_the_format_is_restored(user_model, image_dir, tmp_path):
    # The command line shows a warning (here: an undecodable file) as one line naming
    # it, without Python's source location; the library's format is left as it was.
    import warnings

    script = (
        f"import sys; from saliency_core.cli.main import main; "
        f"sys.exit(main(['explain', {str(image_dir)!r}, '--model', {str(user_model)!r}, "
        f"'--preprocessing', 'tf', '--variant', 'function', '--out', {str(tmp_path / 'f.png')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [ln for ln in done.stderr.splitlines() if "broken.jpg" in ln]
    assert len(lines) == 1 and lines[0].startswith("saliency-bench: warning: "), done.stderr[-2000:]
    assert ".py:" not in lines[0]
    before = warnings.formatwarning
    main(["list", "models"])
    assert warnings.formatwarning is before


@pytest.fixture
def relu_layer_model(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.ReLU(name="act")(keras.layers.Conv2D(4, 3)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    path = tmp_path / "relu.keras"
    keras.Model(inputs, keras.layers.Dense(3)(x)).save(path)
    return path


def test_agree_reports_per_image_and_exits_0_when_the_variants_agree(relu_layer_model, image_dir, capsys):
    with pytest.warns(UserWarning, match="broken.jpg"):
        code = main(
            [
                "agree",
                str(image_dir),
                "--model",
                str(relu_layer_model),
                "--preprocessing",
                "tf",
                "--variant",
                "function",
                "--batch-size",
                "2",
                "--device",
                "cpu",
            ]
        )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "in 1 ReLU and max-pooling layers" in printed and f"of {2 * 14 * 14 * 4:,}" in printed
    assert printed.count("a.png") == 1 and printed.count("gray.png") == 1
    assert "compute the same function: yes" in printed


def test_agree_exits_1_when_pinned_gradients_differ(relu_layer_model, monkeypatch, capsys):
    import saliency_core.agreement as agreement

    real = agreement.variant_agreement

    def off_by_1e3(*args, **kwargs):
        result = real(*args, **kwargs)
        result.pinned_rel_l2 = 1e-3
        return result

    monkeypatch.setattr(agreement, "variant_agreement", off_by_1e3)
    code = main(
        [
            "agree",
            "photos",
            "--model",
            str(relu_layer_model),
            "--preprocessing",
            "tf",
            "--variant",
            "function",
        ]
    )
    assert code == 1
    assert "compute the same function: NO (pinned 1.00e-03 >= --tol 1e-05)" in capsys.readouterr().out


def test_agree_on_a_model_with_relus_inside_conv_layers_splits_them(user_model, capsys):
    assert (
        main(
            ["agree", "photos", "--model", str(user_model), "--preprocessing", "tf", "--variant", "function"]
        )
        == 0
    )
    assert "in 1 ReLU and max-pooling layers" in capsys.readouterr().out


def test_agree_bad_options_and_unreadable_kinks_are_exit_2(tmp_path, user_model, capsys):
    inner = keras.Sequential([keras.Input((14, 14, 4)), keras.layers.ReLU()], name="block")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inner(keras.layers.Conv2D(4, 3)(inputs)))
    nested = tmp_path / "nested.keras"
    keras.Model(inputs, keras.layers.Dense(3)(x)).save(nested)
    assert main(["agree", "photos", "--model", str(nested), "--preprocessing", "tf"]) == 2
    assert "block (a nested model)" in capsys.readouterr().err
    assert main(["agree", "photos", "--model", str(user_model), "--tol", "0"]) == 2
    assert main(["agree", "photos", "--model", str(user_model), "--device", "tpu"]) == 2
    assert "--device: unknown device 'tpu'" in capsys.readouterr().err
    assert main(["agree", "photos", "--model", str(user_model), "--device", "gpu:7"]) == 2
    assert "--device: device gpu:7 is not available" in capsys.readouterr().err


def test_photos_for_a_model_without_preprocessing_are_exit_2_naming_the_option(user_model, tmp_path, capsys):
    for command in (
        ["explain", "photos", "--model", str(user_model), "--out", str(tmp_path / "f.png")],
        ["agree", "photos", "--model", str(user_model)],
    ):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "takes its inputs as given" in err and "--preprocessing" in err and "(16, 16, 3)" in err
