"""Video as check data: load_check_data on a written MP4 and on the bundled video."""

import numpy as np
import pytest

from saliency_core.data import make_bundled_video, read_video, write_video
from saliency_core.data.check_data import load_check_data
from saliency_core.data.video import VideoDecodeError, sampled_indices
from saliency_core.data.video_data import VIDEO_SUFFIXES, is_video_spec
from saliency_core.models.classifier import as_classifier

from ..core.models_for_tests import small_cnn

SIDE = 32


@pytest.fixture(scope="module")
def clip():
    return make_bundled_video(frames=12, size=SIDE, seed=0)


@pytest.fixture(scope="module")
def mp4(clip, tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", clip.frames, clip.fps)


@pytest.fixture(scope="module")
def raw_classifier():
    """Takes raw RGB in [0, 255] ("raw" family: resize the short side, centre crop)."""
    return as_classifier(small_cnn(size=SIDE), preprocessing="raw")


@pytest.fixture(scope="module")
def given_classifier():
    """Takes its inputs as given."""
    return as_classifier(small_cnn(size=SIDE))


def test_a_video_file_is_read_sampled_and_prepared(mp4, clip, raw_classifier):
    data = load_check_data(str(mp4), raw_classifier, fps=5, max_frames=4)
    decoded = read_video(mp4, fps=5, max_frames=4)
    assert data.sequence and data.name == str(mp4) and data.masks is None
    np.testing.assert_array_equal(data.images, raw_classifier.prepare(decoded.frames))
    np.testing.assert_array_equal(data.timestamps, decoded.timestamps)
    assert data.fps == 5.0 and len(data.names) == 4 and data.names[1].startswith("clip-0001-")
    # the in-memory sampling rule picks the same frames as the decoder's
    picked = sampled_indices(clip.timestamps, fps=5, max_frames=4)
    np.testing.assert_allclose(clip.timestamps[picked], decoded.timestamps, atol=1e-3)


def test_every_frame_up_to_max_frames_and_the_source_rate(mp4, raw_classifier):
    data = load_check_data(str(mp4), raw_classifier, max_frames=5)
    assert len(data.images) == 5 and data.fps == pytest.approx(12.0)
    np.testing.assert_allclose(data.timestamps, np.arange(5) / 12.0, atol=1e-3)


def test_the_bundled_video_has_exact_masks(given_classifier):
    data = load_check_data("video", given_classifier, max_frames=6)
    clip = make_bundled_video(frames=24, size=SIDE, seed=0)
    assert data.sequence and data.name == "video" and data.fps == clip.fps
    np.testing.assert_array_equal(data.masks, clip.masks[:6])
    # a classifier taking inputs as given gets RGB in [0, 1], as for the synthetic set
    np.testing.assert_allclose(data.images, clip.frames[:6] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.timestamps, clip.timestamps[:6])


def test_the_bundled_video_at_a_lower_rate(raw_classifier):
    data = load_check_data("video", raw_classifier, fps=4)
    clip = make_bundled_video(frames=24, size=SIDE, seed=0)
    keep = [0, 3, 6, 9, 12, 15, 18, 21]  # 12 fps sampled every 1/4 s
    np.testing.assert_array_equal(data.masks, clip.masks[keep])
    np.testing.assert_array_equal(data.images, clip.frames[keep].astype(np.float32))
    assert data.fps == 4.0


def test_a_non_square_input_gets_a_centre_crop_with_its_masks():
    clf = as_classifier(_rect_model())
    data = load_check_data("video", clf, max_frames=3)
    clip = make_bundled_video(frames=24, size=40, seed=0)
    np.testing.assert_array_equal(data.masks, clip.masks[:3, 8:32, :])


def _rect_model():
    import keras

    inputs = keras.Input((24, 40, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_bad_inputs_name_the_file_or_option(tmp_path, raw_classifier, given_classifier):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        load_check_data(str(tmp_path / "missing.mp4"), raw_classifier)
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoDecodeError, match="junk.mkv"):
        load_check_data(str(junk), raw_classifier)
    with pytest.raises(ValueError, match="--max-frames"):
        load_check_data("video", raw_classifier, images=3)
    with pytest.raises(ValueError, match="fps"):
        load_check_data("video", raw_classifier, fps=-1)
    with pytest.raises(ValueError, match="takes its inputs as given"):
        load_check_data(str(junk), given_classifier)
    with pytest.raises(ValueError, match="'video', a folder, a list file .* or a video file"):
        load_check_data("nonsense", raw_classifier)


def test_video_specs_by_suffix(tmp_path):
    assert is_video_spec("video") and is_video_spec("a/B.MP4")
    assert all(is_video_spec(f"x{s}") for s in VIDEO_SUFFIXES)
    assert not is_video_spec("photos") and not is_video_spec("x.png")
    folder = tmp_path / "frames.mp4"
    folder.mkdir()
    assert not is_video_spec(str(folder))  # a folder is a folder of images
