"""The bundled photos load offline as uint8 RGB, with their known sizes."""

import os

import numpy as np
import pytest

from saliency_core.data import PHOTO_NAMES, ImageSkippedWarning, load_photos
from saliency_core.data import photos as photos_module

# (H, W, 3) of each photo, from the scikit-image docstrings and the JPEG header.
SHAPES = {
    "chelsea": (300, 451, 3),
    "coffee": (400, 600, 3),
    "rocket": (427, 640, 3),
    "astronaut": (512, 512, 3),
    "stereo_motorcycle": (500, 741, 3),
    "camera": (512, 512, 3),
    "grace_hopper": (600, 512, 3),
}


def test_all_seven_photos_load_as_rgb_uint8_with_known_shapes():
    photos = load_photos()
    assert photos.names == list(PHOTO_NAMES) == list(SHAPES) and len(photos) == 7
    assert not photos.skipped and photos.source == "photos" and photos.labels == [None] * 7
    for name, image, path in zip(photos.names, photos.images, photos.paths):
        assert image.dtype == np.uint8 and image.flags.c_contiguous
        assert image.shape == SHAPES[name], name
        assert path is not None and os.path.isfile(path), name
    camera = photos.images[photos.names.index("camera")]
    np.testing.assert_array_equal(camera[..., 0], camera[..., 1])  # grayscale replicated
    np.testing.assert_array_equal(camera[..., 0], camera[..., 2])


def test_motorcycle_is_the_left_view():
    import skimage.data

    left = skimage.data.stereo_motorcycle()[0]
    np.testing.assert_array_equal(load_photos(["stereo_motorcycle"]).images[0], left)


def test_subset_keeps_the_requested_order_and_unknown_names_are_listed():
    assert load_photos(["coffee", "chelsea"]).names == ["coffee", "chelsea"]
    with pytest.raises(ValueError, match=r"unknown photo name.*'dog'.*valid names: chelsea"):
        load_photos(["chelsea", "dog"])


def test_a_photo_that_fails_is_skipped_with_a_warning(monkeypatch):
    def needs_pooch():
        raise ModuleNotFoundError("this photo needs pooch to download")

    monkeypatch.setitem(photos_module._LOADERS, "rocket", needs_pooch)
    with pytest.warns(ImageSkippedWarning, match="rocket.*pooch"):
        photos = load_photos(["chelsea", "rocket"])
    assert photos.names == ["chelsea"]
    assert photos.skipped == [("rocket", "ModuleNotFoundError: this photo needs pooch to download")]
    with pytest.warns(ImageSkippedWarning), pytest.raises(ValueError, match="none of the photos"):
        load_photos(["rocket"])
