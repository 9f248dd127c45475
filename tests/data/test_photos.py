"""The bundled photos load offline as uint8 RGB."""

import numpy as np
import pytest

from saliency_core.data import PHOTO_NAMES, load_photos


def test_all_seven_photos_load_as_rgb_uint8():
    photos = load_photos()
    assert photos.names == list(PHOTO_NAMES) and len(photos) == 7 and not photos.skipped
    for image in photos.images:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    shapes = dict(zip(photos.names, (im.shape for im in photos.images)))
    assert shapes["chelsea"] == (300, 451, 3) and shapes["coffee"] == (400, 600, 3)
    camera = photos.images[photos.names.index("camera")]
    np.testing.assert_array_equal(camera[..., 0], camera[..., 2])  # grayscale replicated


def test_subset_and_unknown_name():
    assert load_photos(["coffee", "chelsea"]).names == ["coffee", "chelsea"]
    with pytest.raises(ValueError, match="unknown photo name.*'dog'.*chelsea"):
        load_photos(["dog"])
