"""Decoding and folder reading: conversions checked pixel by pixel, failures named."""

import numpy as np
import pytest
from PIL import Image

from saliency_core.data import ImageDecodeError, ImageSkippedWarning, load_folder, load_image


def test_rgb_png_and_bmp_round_trip_exactly(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    for suffix in (".png", ".bmp"):
        Image.fromarray(rgb).save(tmp_path / f"a{suffix}")
        out = load_image(tmp_path / f"a{suffix}")
        assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
        np.testing.assert_array_equal(out, rgb)


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray, mode="L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_rgba_is_composited_over_white(tmp_path):
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 0] = [200, 100, 0, 255]   # opaque: unchanged
    rgba[0, 1] = [0, 0, 0, 64]        # mostly transparent black over white
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "t.png")
    out = load_image(tmp_path / "t.png").astype(int)
    np.testing.assert_array_equal(out[0, 0], [200, 100, 0])
    expected = round(255 * (1 - 64 / 255))  # black * a + white * (1 - a)
    assert np.all(np.abs(out[0, 1] - expected) <= 1)


def test_sixteen_bit_is_scaled_by_range(tmp_path):
    values = np.array([[0, 32768, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    out = load_image(tmp_path / "d.png")
    np.testing.assert_allclose(out[0, :, 0], [0, 127.5, 255], atol=1)


def test_palette_image(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "p.png")
    out = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 0, 255]])


def test_undecodable_file_is_named(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageDecodeError, match="broken.jpg"):
        load_image(bad)


def test_folder_with_corrupt_jpeg_text_gray_and_rgba(tmp_path):
    """The core issue's case: two convertible images and two named warnings."""
    good = np.full((4, 4, 3), 9, np.uint8)
    Image.fromarray(good).save(tmp_path / "ok.jpg")
    truncated = (tmp_path / "ok.jpg").read_bytes()[:40]
    (tmp_path / "corrupt.jpg").write_bytes(truncated)
    (tmp_path / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(tmp_path / "gray.png")
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), mode="RGBA").save(tmp_path / "rgba.png")
    (tmp_path / "ok.jpg").unlink()
    with pytest.warns(ImageSkippedWarning) as record:
        images = load_folder(tmp_path)
    assert images.names == ["gray.png", "rgba.png"]
    assert all(im.shape == (4, 4, 3) and im.dtype == np.uint8 for im in images.images)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert any("corrupt.jpg" in m for m in messages) and any("notes.txt" in m for m in messages)
    assert sorted(p.split("/")[-1] for p, _ in images.skipped) == ["corrupt.jpg", "notes.txt"]


def test_class_subfolders_are_labels_and_flat_files_are_unlabelled(tmp_path):
    for label in ("dog", "cat"):
        (tmp_path / label).mkdir()
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / label / "x.png")
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / "loose.png")
    (tmp_path / ".hidden.png").write_bytes(b"ignored")
    images = load_folder(tmp_path)
    assert images.names == ["cat/x.png", "dog/x.png", "loose.png"]
    assert images.labels == ["cat", "dog", None]
    assert images.classes == ["cat", "dog"]


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_folder(tmp_path / "empty")
