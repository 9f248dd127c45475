"""The synthetic ground-truth set: deterministic, balanced, masks exact, learnable."""

import numpy as np
import pytest

from saliency_core.data import SHAPES, load_synthetic_cnn, make_synthetic, permuted_labels


def test_same_seed_same_set_and_other_seed_differs():
    a, b, c = (make_synthetic(12, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)


def test_classes_are_balanced_and_images_in_unit_range():
    s = make_synthetic(40, seed=0)
    assert s.images.dtype == np.float32 and s.images.shape == (40, 48, 48, 3)
    assert 0.0 <= s.images.min() and s.images.max() <= 1.0
    assert np.bincount(s.labels, minlength=4).tolist() == [10, 10, 10, 10]
    assert s.class_names == SHAPES


def test_mask_marks_exactly_the_object():
    """The same scene without its object differs (beyond pixel noise) only inside the mask."""
    with_obj = make_synthetic(8, seed=5)
    without = make_synthetic(8, seed=5, objects=False)
    np.testing.assert_array_equal(with_obj.masks, without.masks)
    diff = np.abs(with_obj.images - without.images).max(axis=-1)
    for i in range(8):
        m = with_obj.masks[i]
        assert m.sum() > 50
        assert diff[i][~m].max() < 0.15          # outside: only the independent pixel noise
        assert np.median(diff[i][m]) > 0.2       # inside: the object's own colour


def test_shape_statistics_differ_by_class():
    """Class is visible in the mask's shape: fill ratio of its bounding box differs."""
    s = make_synthetic(200, seed=1)
    fill = {}
    for k, name in enumerate(SHAPES):
        ratios = []
        for m in s.masks[s.labels == k]:
            rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
            ratios.append(m.sum() / ((rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)))
        fill[name] = np.mean(ratios)
    assert fill["disc"] > fill["triangle"] and fill["disc"] > fill["cross"]


def test_permuted_labels_keep_counts_and_are_seeded():
    labels = np.arange(100) % 4
    a, b = permuted_labels(labels, 1), permuted_labels(labels, 1)
    np.testing.assert_array_equal(a, b)
    assert np.bincount(a).tolist() == np.bincount(labels).tolist() and not np.array_equal(a, labels)


@pytest.mark.slow
def test_cached_cnn_reaches_95_percent_on_held_out_images():
    model = load_synthetic_cnn(seed=0)  # trained once per session (private cache)
    test = make_synthetic(500, seed=1)
    accuracy = (np.argmax(np.asarray(model(test.images)), axis=1) == test.labels).mean()
    assert accuracy >= 0.95, accuracy
