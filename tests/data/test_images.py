"""Decoding and folder reading: conversions checked pixel by pixel, failures named.

Every file is built here with Pillow; expected pixel values are worked out by hand
from the conversion rules in ``load_image``'s docstring.
"""

import warnings

import numpy as np
import pytest
from PIL import Image

from saliency_core.data import ImageDecodeError, ImageSet, ImageSkippedWarning, load_folder, load_image


def _save(array, path, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def _jpeg_bytes(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    return _save(rgb, tmp_path / "source.jpg").read_bytes()


# --- load_image: conversions ----------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_lossless_rgb_round_trips_exactly(tmp_path, suffix):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = load_image(_save(rgb, tmp_path / f"a{suffix}"))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_jpeg_decodes_to_rgb_close_to_the_original(tmp_path):
    rgb = np.full((16, 16, 3), (200, 40, 90), np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=95)
    out = load_image(str(tmp_path / "a.jpg"))  # str paths work as well as Path
    assert out.dtype == np.uint8 and out.shape == (16, 16, 3)
    assert np.abs(out.astype(int) - rgb).max() <= 3  # lossy, but a flat colour survives


def test_grayscale_and_bilevel_are_replicated_to_three_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = load_image(_save(gray, tmp_path / "g.png", mode="L"))
    np.testing.assert_array_equal(out, np.repeat(gray[..., None], 3, axis=-1))
    out = load_image(_save(np.array([[False, True]]), tmp_path / "b.png"))  # mode "1"
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [255, 255, 255]])


def test_rgba_and_la_are_composited_over_white(tmp_path):
    rgba = np.array(
        [
            [
                [200, 100, 0, 255],  # opaque: unchanged
                [200, 100, 0, 0],  # fully transparent: white
                [200, 100, 0, 128],  # half: c*128/255 + 255*127/255
                [0, 0, 0, 64],
            ]
        ],
        np.uint8,
    )
    out = load_image(_save(rgba, tmp_path / "t.png", mode="RGBA"))
    # (200*128 + 255*127)/255 = 227.39 -> 227; (100*128 + 255*127)/255 = 177.20 -> 177;
    # 255*127/255 = 127; black at alpha 64: 255*191/255 = 191.
    np.testing.assert_array_equal(out[0], [[200, 100, 0], [255, 255, 255], [227, 177, 127], [191, 191, 191]])
    la = np.array([[[100, 128], [7, 0]]], np.uint8)
    out = load_image(_save(la, tmp_path / "la.png", mode="LA"))
    # (100*128 + 255*127)/255 = 177.20 -> 177
    np.testing.assert_array_equal(out[0], [[177, 177, 177], [255, 255, 255]])


def test_sixteen_bit_is_scaled_by_its_range(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    out = load_image(_save(values, tmp_path / "d.png"))  # mode I;16
    # v * 255 / 65535: 0, 1 exactly, 127.502 -> 128, 255
    np.testing.assert_array_equal(out[0], [[0] * 3, [1] * 3, [128] * 3, [255] * 3])


def test_32_bit_integer_is_clipped_to_the_16_bit_range(tmp_path):
    values = np.array([[-5, 257, 65535, 70000]], np.int32)
    out = load_image(_save(values, tmp_path / "i.tif"))  # mode I
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 255])


def test_palette_with_and_without_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "p.png")
    np.testing.assert_array_equal(load_image(tmp_path / "p.png")[0], [[255, 0, 0], [0, 0, 255]])
    img.info["transparency"] = 1  # index 1 is transparent: composited over white
    img.save(tmp_path / "pt.png")
    np.testing.assert_array_equal(load_image(tmp_path / "pt.png")[0], [[255, 0, 0], [255, 255, 255]])


def test_cmyk_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (2, 1), (0, 255, 0, 0)).save(tmp_path / "c.tif")  # pure magenta ink
    np.testing.assert_array_equal(load_image(tmp_path / "c.tif")[0], [[255, 0, 255]] * 2)


def test_exif_orientation_is_applied(tmp_path):
    pixels = (np.arange(18, dtype=np.uint8) * 10).reshape(2, 3, 3)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=exif.tobytes())
    np.testing.assert_array_equal(load_image(tmp_path / "o.png"), np.rot90(pixels, k=-1))


# --- load_image: failures -------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content",
    [
        ("truncated.jpg", "half"),  # a real JPEG cut in the middle
        ("header_only.jpg", "header"),  # a JPEG cut after 40 bytes
        ("notes.png", b"just some text\n"),  # text with an image extension
        ("empty.bmp", b""),
    ],
)
def test_undecodable_files_raise_a_named_decode_error(tmp_path, name, content):
    jpeg = _jpeg_bytes(tmp_path)
    data = {"half": jpeg[: len(jpeg) // 2], "header": jpeg[:40]}.get(content, content)
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageDecodeError, match=name) as info:
        load_image(path)
    assert isinstance(info.value, ValueError)
    assert info.value.path == str(path) and info.value.reason


def test_a_missing_file_is_not_a_decode_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "absent.png")


# --- load_folder ----------------------------------------------------------------------


def test_folder_with_corrupt_jpeg_text_gray_and_rgba(tmp_path):
    """Two convertible images and two warnings, each naming its file."""
    jpeg = _jpeg_bytes(tmp_path)
    (tmp_path / "source.jpg").unlink()
    (tmp_path / "corrupt.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "notes.txt").write_text("not an image")
    _save(np.full((4, 4), 50, np.uint8), tmp_path / "gray.png", mode="L")
    _save(np.zeros((4, 4, 4), np.uint8), tmp_path / "rgba.png", mode="RGBA")
    with pytest.warns(ImageSkippedWarning) as record:
        images = load_folder(tmp_path)
    assert images.names == ["gray.png", "rgba.png"] and images.labels == [None, None]
    assert all(im.shape == (4, 4, 3) and im.dtype == np.uint8 for im in images.images)
    np.testing.assert_array_equal(images.images[0], 50)
    np.testing.assert_array_equal(images.images[1], 255)  # transparent black over white
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert "corrupt.jpg" in messages[0] and "notes.txt" in messages[1]
    assert [p.rsplit("/", 1)[-1] for p, _ in images.skipped] == ["corrupt.jpg", "notes.txt"]
    assert all(reason for _, reason in images.skipped)


def test_class_subfolders_are_labels_and_loose_files_are_unlabelled(tmp_path):
    for label in ("dog", "cat"):  # created out of order: the result is sorted anyway
        (tmp_path / label / "deeper").mkdir(parents=True)
        _save(np.zeros((2, 2, 3), np.uint8), tmp_path / label / "x.png")
    _save(np.zeros((2, 2, 3), np.uint8), tmp_path / "cat" / "deeper" / "y.png")
    _save(np.zeros((2, 2, 3), np.uint8), tmp_path / "loose.png")
    (tmp_path / ".hidden.png").write_bytes(b"ignored, not even warned about")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "junk.png").write_bytes(b"ignored")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = load_folder(tmp_path)
    assert images.names == ["cat/deeper/y.png", "cat/x.png", "dog/x.png", "loose.png"]
    assert images.labels == ["cat", "cat", "dog", None]
    assert images.classes == ["cat", "dog"] and len(images) == 4 and not images.skipped
    assert images.paths[2] == str(tmp_path / "dog" / "x.png")
    assert images.source == str(tmp_path)
    flat = load_folder(tmp_path, recursive=False)
    assert flat.names == ["loose.png"] and flat.labels == [None]


def test_extensions_filter_ignores_other_files_silently(tmp_path):
    _save(np.zeros((2, 2, 3), np.uint8), tmp_path / "a.PNG")
    _save(np.zeros((2, 2, 3), np.uint8), tmp_path / "b.bmp")
    (tmp_path / "notes.txt").write_text("skipped silently")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = load_folder(tmp_path, extensions=["png", ".bmp"])
    assert images.names == ["a.PNG", "b.bmp"]
    with pytest.raises(ValueError, match=r"no image files .* with extensions \.jpg"):
        load_folder(tmp_path, extensions=[".jpg"])


def test_missing_empty_or_undecodable_folders_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load_folder(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="file.png"):
        load_folder(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files in .*empty"):
        load_folder(tmp_path / "empty")
    (tmp_path / "classes" / "cat").mkdir(parents=True)
    _save(np.zeros((2, 2, 3), np.uint8), tmp_path / "classes" / "cat" / "x.png")
    with pytest.raises(ValueError, match="recursive=True"):
        load_folder(tmp_path / "classes", recursive=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.txt").write_text("no")
    with pytest.warns(ImageSkippedWarning), pytest.raises(ValueError, match="could be decoded"):
        load_folder(tmp_path / "bad")


def test_image_set_rejects_misaligned_fields():
    with pytest.raises(ValueError, match="differ in length"):
        ImageSet([np.zeros((1, 1, 3), np.uint8)], ["a", "b"], [None], [None])
