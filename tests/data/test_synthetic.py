"""The synthetic ground-truth set: deterministic, balanced, masks exact, class = shape,
and learnable by the small CNN."""

import time

import numpy as np
import pytest

from saliency_core.data import SHAPES, load_synthetic_cnn, make_synthetic, permuted_labels, small_cnn
from saliency_core.data import synthetic_cnn as synthetic_cnn_module


def test_same_seed_same_set_and_other_seed_differs():
    a, b, c = (make_synthetic(12, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images) and not np.array_equal(a.masks, c.masks)


def test_global_random_state_is_untouched():
    before = np.random.get_state()[1].copy()
    make_synthetic(4, seed=0)
    permuted_labels(np.arange(8), seed=0)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_arrays_types_range_and_balanced_classes():
    s = make_synthetic(42, seed=0)
    assert len(s) == 42 and s.seed == 0 and s.class_names == SHAPES
    assert s.images.dtype == np.float32 and s.images.shape == (42, 64, 64, 3)
    assert 0.0 <= s.images.min() and s.images.max() <= 1.0
    assert s.masks.dtype == bool and s.masks.shape == (42, 64, 64)
    assert s.labels.shape == (42,) and np.issubdtype(s.labels.dtype, np.integer)
    assert np.bincount(s.labels, minlength=4).tolist() == [11, 11, 10, 10]
    three = make_synthetic(9, image_size=32, seed=0, num_classes=3)
    assert three.class_names == SHAPES[:3] and np.bincount(three.labels).tolist() == [3, 3, 3]
    assert three.images.shape == (9, 32, 32, 3)
    with pytest.raises(ValueError, match="num_classes"):
        make_synthetic(2, seed=0, num_classes=5)


def test_mask_covers_exactly_the_object():
    """The same scene rendered without its object: identical outside the mask, and
    different at every pixel inside it, where the object's flat colour sits."""
    with_obj = make_synthetic(16, seed=5)
    without = make_synthetic(16, seed=5, objects=False)
    np.testing.assert_array_equal(with_obj.masks, without.masks)
    np.testing.assert_array_equal(with_obj.labels, without.labels)
    for image, empty, mask in zip(with_obj.images, without.images, with_obj.masks):
        assert mask.sum() > 100
        np.testing.assert_array_equal(image[~mask], empty[~mask])
        inside = np.abs(image[mask] - empty[mask]).max(axis=-1)
        assert inside.min() > 0
        assert np.linalg.norm(image[mask] - empty[mask], axis=-1).mean() > 0.4
        assert image[mask].std(axis=0).max() < 0.03  # one colour plus pixel noise (0.02)


def _mask_features(mask):
    """(solidity, area / area of the disc around the centroid reaching the farthest pixel)."""
    from skimage.measure import regionprops

    props = regionprops(mask.astype(np.uint8))[0]
    rows, cols = np.nonzero(mask)
    cy, cx = props.centroid
    radius = np.sqrt((rows - cy) ** 2 + (cols - cx) ** 2).max() + 0.5
    return props.solidity, props.area / (np.pi * radius**2)


def _shape_from_mask(mask):
    """Name the shape from rotation-invariant mask statistics alone. Continuum values:
    cross solidity 5/8 (others 1); area over circumscribed disc: disc 1, square 2/pi,
    triangle 3*sqrt(3)/(4*pi) = 0.41."""
    solidity, fill = _mask_features(mask)
    if solidity < 0.8:
        return "cross"
    if fill > 0.8:
        return "disc"
    return "triangle" if fill < 0.52 else "square"


def test_the_label_is_recoverable_from_the_object_shape_alone():
    s = make_synthetic(200, seed=1)
    predicted = [SHAPES.index(_shape_from_mask(m)) for m in s.masks]
    assert (np.array(predicted) == s.labels).mean() >= 0.99


def test_nuisance_variables_do_not_give_the_class_away():
    """Object area and position have the same distribution for every class."""
    s = make_synthetic(400, seed=2)
    areas = s.masks.sum(axis=(1, 2))
    rows = [np.nonzero(m)[0].mean() for m in s.masks]
    mean_area = [areas[s.labels == k].mean() for k in range(4)]
    mean_row = [np.mean(np.asarray(rows)[s.labels == k]) for k in range(4)]
    assert max(mean_area) / min(mean_area) < 1.15, mean_area
    assert max(mean_row) - min(mean_row) < 3.0, mean_row  # pixels, of 64


def test_permuted_labels_keep_counts_and_are_seeded():
    labels = np.arange(100) % 4
    original = labels.copy()
    a, b, c = permuted_labels(labels, 1), permuted_labels(labels, 1), permuted_labels(labels, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(labels, original)  # input untouched
    assert not np.array_equal(a, c) and not np.array_equal(a, labels)
    assert np.bincount(a).tolist() == np.bincount(labels).tolist()


def test_small_cnn_layers_names_and_seeded_initial_weights():
    model = small_cnn(4, image_size=32, seed=3)
    names = [layer.name for layer in model.layers]
    assert names[:2] == ["image", "scale"] and names[-2:] == ["global_pool", "logits"]
    convs = [n for n in names if n.endswith("_conv")]
    assert convs == ["block1_conv", "block2_conv", "block3_conv", "block4_conv"]
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert weighted == convs + ["logits"]  # nothing else to randomize
    assert model.output_shape == (None, 4)
    same, other = small_cnn(4, image_size=32, seed=3), small_cnn(4, image_size=32, seed=4)
    for w, v in zip(model.get_weights(), same.get_weights()):
        np.testing.assert_array_equal(w, v)
    assert not np.array_equal(model.get_weights()[0], other.get_weights()[0])


def test_load_synthetic_cnn_caches_atomically_and_rebuilds_a_bad_file(tmp_path, monkeypatch):
    calls = []

    def fake_train(train_set, *, seed, epochs):
        calls.append((len(train_set), seed, epochs))
        return small_cnn(4, image_size=16, seed=seed, filters=(4,)), {}

    monkeypatch.setattr(synthetic_cnn_module, "train_synthetic_cnn", fake_train)
    monkeypatch.setattr(synthetic_cnn_module, "TRAIN_SIZE", 4)
    first = load_synthetic_cnn(tmp_path, seed=7)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].endswith("seed7-n4-e4.keras")  # no temp file left
    second = load_synthetic_cnn(tmp_path, seed=7)
    assert len(calls) == 1  # loaded, not retrained
    for w, v in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(w, v)
    (tmp_path / files[0]).write_bytes(b"truncated")
    with pytest.warns(RuntimeWarning, match="could not be read"):
        load_synthetic_cnn(tmp_path, seed=7)
    assert len(calls) == 2 and sorted(p.name for p in tmp_path.iterdir()) == files
    # a smaller training set is another model, never read back as this one
    monkeypatch.setattr(synthetic_cnn_module, "TRAIN_SIZE", 3)
    load_synthetic_cnn(tmp_path, seed=7)
    assert calls[-1] == (3, 7, 4) and len(list(tmp_path.iterdir())) == 2


@pytest.mark.slow
def test_cnn_reaches_95_percent_on_held_out_images():
    """``load_synthetic_cnn`` trains here (6000 images of seed 0, about a minute on two
    cores) and caches the model for the session; the test set is seed 1."""
    start = time.perf_counter()
    model = load_synthetic_cnn(seed=0)
    seconds = time.perf_counter() - start
    test = make_synthetic(1000, seed=1)
    accuracy = (np.argmax(np.asarray(model.predict(test.images, verbose=0)), 1) == test.labels).mean()
    print(f"synthetic CNN: {seconds:.1f} s to obtain, held-out accuracy {accuracy:.3f}")
    assert accuracy >= 0.95, accuracy
