"""Image streams: batch boundaries and names, exact resume, bad files named, bounded
read-ahead and memory, and no thread left behind.

Every image is a small PNG or array made here; expected pixels are the arrays written.
"""

import hashlib
import os
import shutil
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from PIL import Image

from saliency_core.data import (
    ImageSkippedWarning,
    array_stream,
    folder_stream,
    image_seed,
    list_file_stream,
    photos_stream,
    synthetic_label,
    synthetic_stream,
)
from saliency_core.data import photos as photos_module


def _pixels(i, size=16):
    """A distinct 16x16 RGB image per i (lossless PNG round-trips it exactly)."""
    return np.random.default_rng(i).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _write(path, i):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(i)).save(path)
    return path


@pytest.fixture
def folder(tmp_path):
    """10 PNGs: 4 at the root, 3 in cat/, 3 in dog/; returns (root, {name: pixels})."""
    root = tmp_path / "images"
    names = (
        [f"r{k}.png" for k in range(4)]
        + [f"cat/c{k}.png" for k in range(3)]
        + [f"dog/d{k}.png" for k in range(3)]
    )
    for i, name in enumerate(names):
        _write(root / name, i)
    return root, {name: _pixels(i) for i, name in enumerate(names)}


def _flatten(batches):
    names, images, indices = [], [], []
    for batch in batches:
        names += batch.names
        images += list(batch.images)
        indices += batch.indices
    return names, images, indices


def _skips(record):
    return [str(w.message) for w in record if issubclass(w.category, ImageSkippedWarning)]


# --- folders: order, boundaries, resume --------------------------------------------------


def test_folder_batches_have_sorted_names_fixed_sizes_and_the_written_pixels(folder):
    root, expected = folder
    stream = folder_stream(root)
    assert len(stream) == stream.size == 10 and stream.name == str(root)
    batches = list(stream.batches(4))
    assert [len(b) for b in batches] == [4, 4, 2]
    names, images, indices = _flatten(batches)
    assert names == sorted(expected) and indices == list(range(10))
    for name, image in zip(names, images, strict=True):
        assert image.dtype == np.uint8
        np.testing.assert_array_equal(image, expected[name])
    assert batches[0].labels == ["cat", "cat", "cat", "dog"]
    assert batches[2].labels is None  # r2.png, r3.png: no class subfolder
    assert all(b.masks is None and b.skipped == [] for b in batches)


@pytest.mark.parametrize("start", [0, 1, 3, 4, 9, 10])
def test_start_resumes_exactly_where_a_full_pass_was(folder, start):
    root, _ = folder
    full_names, full_images, full_indices = _flatten(folder_stream(root).batches(3))
    names, images, indices = _flatten(folder_stream(root).batches(3, start=start))
    assert names == full_names[start:] and indices == full_indices[start:]
    for a, b in zip(images, full_images[start:], strict=True):
        np.testing.assert_array_equal(a, b)


def test_positions_before_start_are_not_read(folder):
    root, _ = folder
    for name in ("cat/c0.png", "cat/c1.png"):  # positions 0 and 1: corrupt them
        (root / name).write_bytes(b"not an image")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        names, _, _ = _flatten(folder_stream(root).batches(4, start=2))
    assert _skips(record) == [] and names[0] == "cat/c2.png"
    with pytest.warns(ImageSkippedWarning) as record:
        list(folder_stream(root).batches(4))
    assert ["c0.png" in m for m in _skips(record)] == [True, False]


@pytest.mark.parametrize("size, workers, prefetch", [(1, 0, 1), (3, 1, 1), (7, 2, 2), (100, 3, 1)])
def test_same_images_whatever_the_batch_size_and_threads(folder, size, workers, prefetch):
    root, expected = folder
    batches = list(folder_stream(root).batches(size, workers=workers, prefetch=prefetch))
    assert [len(b) for b in batches[:-1]] == [size] * (len(batches) - 1)
    names, images, _ = _flatten(batches)
    assert names == sorted(expected)
    for name, image in zip(names, images, strict=True):
        np.testing.assert_array_equal(image, expected[name])


def test_prepare_runs_on_each_batch_and_shapes_the_images(folder):
    root, expected = folder
    batches = list(folder_stream(root).batches(4, prepare=lambda ims: np.stack(ims)[:, ::2, ::2]))
    assert [b.images.shape for b in batches] == [(4, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)]
    np.testing.assert_array_equal(batches[1].images[0], expected[batches[1].names[0]][::2, ::2])


def test_bad_options_are_named(folder):
    root, _ = folder
    stream = folder_stream(root)
    for kwargs, option in [
        ({"size": 0}, "size"),
        ({"size": 2, "start": -1}, "start"),
        ({"size": 2, "workers": -1}, "workers"),
        ({"size": 2, "prefetch": 0}, "prefetch"),
        ({"size": 2.5}, "size"),
    ]:
        with pytest.raises(ValueError, match=option):
            stream.batches(**kwargs)


# --- bad input ---------------------------------------------------------------------------


def _symlink(target, link):
    try:
        os.symlink(target, link)
    except (OSError, NotImplementedError):
        pytest.skip("symbolic links are not available here")


def test_corrupt_files_dangling_links_and_link_loops_are_warned_by_name(folder):
    root, expected = folder
    (root / "cat/c1.png").write_bytes(b"\x89PNG truncated")
    _symlink(root / "gone.png", root / "dog/dangling.png")
    _symlink(root / "loop_b.png", root / "loop_a.png")
    _symlink(root / "loop_a.png", root / "loop_b.png")
    stream = folder_stream(root)
    assert len(stream) == 13  # the three links are positions too
    with pytest.warns(ImageSkippedWarning) as record:
        batches = list(stream.batches(4))
    messages = _skips(record)
    assert len(messages) == 4
    assert any("c1.png" in m for m in messages)
    assert any("dangling.png" in m and "dangling symbolic link" in m for m in messages)
    assert sum(("loop_a.png" in m or "loop_b.png" in m) and "symbolic link loop" in m for m in messages) == 2
    skipped = [path for b in batches for path, _ in b.skipped]
    assert sorted(os.path.basename(p) for p in skipped) == [
        "c1.png",
        "dangling.png",
        "loop_a.png",
        "loop_b.png",
    ]
    names, _, _ = _flatten(batches)
    assert names == sorted(n for n in expected if n != "cat/c1.png")
    assert [len(b) for b in batches] == [4, 4, 1]


def test_a_skip_is_reported_in_the_batch_it_falls_in(folder):
    root, _ = folder
    (root / "cat/c2.png").write_bytes(b"")  # position 2
    (root / "r3.png").write_bytes(b"")  # position 9, after the last image
    with pytest.warns(ImageSkippedWarning):
        batches = list(folder_stream(root).batches(2))
    assert [[os.path.basename(p) for p, _ in b.skipped] for b in batches] == [[], ["c2.png"], [], ["r3.png"]]
    assert [b.indices for b in batches] == [[0, 1], [3, 4], [5, 6], [7, 8]]
    assert [b.next_start for b in batches] == [2, 5, 7, 10]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # resuming after the last batch reads nothing
        assert list(folder_stream(root).batches(2, start=batches[-1].next_start)) == []
    with pytest.warns(ImageSkippedWarning) as record:
        resumed = list(folder_stream(root).batches(2, start=batches[0].next_start))
    assert [os.path.basename(m.split(":")[0]) for m in _skips(record)] == ["c2.png", "r3.png"]
    assert [b.indices for b in resumed] == [b.indices for b in batches[1:]]


def test_nothing_decodable_and_empty_folders_are_errors_naming_the_folder(tmp_path):
    root = tmp_path / "junk"
    root.mkdir()
    with pytest.raises(ValueError, match=f"no image files in {root}"):
        folder_stream(root)
    (root / "a.png").write_bytes(b"nope")
    (root / "b.png").write_bytes(b"")
    with (
        pytest.warns(ImageSkippedWarning) as record,
        pytest.raises(ValueError, match=f"none of the 2 items of {root} could be read"),
    ):
        list(folder_stream(root).batches(4))
    assert len(_skips(record)) == 2  # each file is still warned by name
    with pytest.raises(FileNotFoundError, match="missing"):
        folder_stream(tmp_path / "missing")


def test_a_file_that_vanished_after_listing_is_skipped_by_name(folder):
    root, expected = folder
    stream = folder_stream(root)
    (root / "dog/d1.png").unlink()
    with pytest.warns(ImageSkippedWarning, match=r"d1\.png: no such file \(it vanished"):
        names, _, _ = _flatten(stream.batches(4))
    assert names == sorted(n for n in expected if n != "dog/d1.png")


def test_a_folder_that_vanishes_mid_run_raises_naming_it_and_keeps_earlier_batches(tmp_path):
    root = tmp_path / "many"
    for i in range(40):
        _write(root / f"{i:03d}.png", i)
    stream = folder_stream(root)
    batches = stream.batches(2, workers=1)
    first = next(batches)
    shutil.rmtree(root)
    # At most prefetch + 1 batches and 2 * workers files were read ahead; files removed
    # while the folder was still there are skipped (warned) until it is gone.
    with warnings.catch_warnings(), pytest.raises(FileNotFoundError, match=f"image folder {root} vanished"):
        warnings.simplefilter("ignore", ImageSkippedWarning)
        for _ in batches:
            pass
    assert first.names == ["000.png", "001.png"]
    np.testing.assert_array_equal(first.images[1], _pixels(1))


# --- list files --------------------------------------------------------------------------


def test_list_file_comments_relative_paths_and_missing_entries_with_line_numbers(tmp_path):
    _write(tmp_path / "lists/near.png", 0)
    _write(tmp_path / "other/far.png", 1)
    _write(tmp_path / "abs.png", 2)
    (tmp_path / "lists/bad.png").write_bytes(b"garbage")
    listing = tmp_path / "lists/set.txt"
    listing.write_text(
        "# a comment\n"
        "near.png\n"
        "\n"
        "   ../other/far.png  \n"
        "missing.png\n"
        f"{tmp_path / 'abs.png'}\n"
        "  # indented comment\n"
        "bad.png\n"
    )
    stream = list_file_stream(listing)
    assert len(stream) == 5 and stream.name == str(listing)
    with pytest.warns(ImageSkippedWarning) as record:
        batches = list(stream.batches(2))
    names, images, indices = _flatten(batches)
    assert names == ["near.png", "../other/far.png", str(tmp_path / "abs.png")]
    assert indices == [0, 1, 3]
    for image, i in zip(images, (0, 1, 2), strict=True):
        np.testing.assert_array_equal(image, _pixels(i))
    messages = _skips(record)
    assert len(messages) == 2
    assert "missing.png" in messages[0] and f"line 5 of {listing}" in messages[0]
    assert "bad.png" in messages[1] and f"line 8 of {listing}" in messages[1]


def test_list_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        list_file_stream(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="lists no file"):
        list_file_stream(tmp_path / "empty.txt")
    (tmp_path / "twice.txt").write_text("a.png\nb.png\na.png\n")
    with pytest.raises(ValueError, match=r"listed twice \(lines 1 and 3\)"):
        list_file_stream(tmp_path / "twice.txt")


# --- arrays, iterables, tf.data ----------------------------------------------------------


def test_array_and_sequence_sources_name_items_by_position():
    images = np.stack([_pixels(i) for i in range(7)])
    for source in (images, list(images)):
        stream = array_stream(source)
        assert len(stream) == 7 and stream.name == "array"
        names, got, indices = _flatten(stream.batches(3, start=2))
        assert names == [f"item-{i}" for i in range(2, 7)] and indices == list(range(2, 7))
        np.testing.assert_array_equal(np.stack(got), images[2:])
    named = array_stream(images, names=list("abcdefg"), name="letters")
    assert [b.names for b in named.batches(4)] == [list("abcd"), list("efg")]
    with pytest.raises(ValueError, match="7 images but 2 names"):
        array_stream(images, names=["a", "b"])
    with pytest.raises(ValueError, match="not unique: 'a'"):
        array_stream(images, names=["a"] * 7)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\) array"):
        array_stream(images[0])
    with pytest.raises(TypeError, match="int"):
        array_stream(3)


def test_generator_source_has_no_length_reads_once_and_carries_labels():
    def pairs(n):
        for i in range(n):
            yield _pixels(i), i % 3

    stream = array_stream(pairs(5))
    assert stream.size is None
    with pytest.raises(TypeError, match="no known length"):
        len(stream)
    batches = list(stream.batches(2, start=1))
    assert [b.indices for b in batches] == [[1, 2], [3, 4]]
    assert [b.labels for b in batches] == [[1, 2], [0, 1]]
    np.testing.assert_array_equal(batches[1].images[0], _pixels(3))
    with pytest.raises(ValueError, match="one-shot iterator"):
        list(stream.batches(2))
    short = array_stream(pairs(3), names=["a", "b"])
    with pytest.raises(ValueError, match="more images than its 2 names"):
        list(short.batches(2))
    with pytest.raises(ValueError, match=r"item 1 of stream 'array' is not an \(H, W, C\)"):
        list(array_stream([_pixels(0), np.zeros((4, 4))]).batches(2))


def test_tf_data_sources_with_labels_dicts_and_start():
    tf = pytest.importorskip("tensorflow")
    images = np.stack([_pixels(i) for i in range(6)])
    labels = np.arange(6) * 10
    pairs = tf.data.Dataset.from_tensor_slices((images, labels))
    stream = array_stream(pairs, name="tfds")
    assert len(stream) == 6
    batches = list(stream.batches(4, prepare=np.stack, start=1))
    assert [b.indices for b in batches] == [[1, 2, 3, 4], [5]]
    assert batches[0].labels == [10, 20, 30, 40]
    np.testing.assert_array_equal(np.concatenate([b.images for b in batches]), images[1:])
    dicts = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
    assert [b.labels for b in array_stream(dicts).batches(3)] == [[0, 10, 20], [30, 40, 50]]
    plain = tf.data.Dataset.from_tensor_slices(images).filter(lambda x: True)  # unknown size
    plain_stream = array_stream(plain)
    assert plain_stream.size is None
    names, got, _ = _flatten(plain_stream.batches(5))
    assert names == [f"item-{i}" for i in range(6)]
    np.testing.assert_array_equal(np.stack(got), images)


# --- synthetic, photos, seeds ------------------------------------------------------------


def test_synthetic_image_i_is_the_same_whatever_n_batch_size_and_start():
    def by_name(n, size, start):
        out = {}
        for b in synthetic_stream(n, image_size=32, seed=7).batches(size, start=start):
            for name, image, mask, label in zip(b.names, b.images, b.masks, b.labels, strict=True):
                out[name] = (image, mask, label)
        return out

    reference = by_name(9, 9, 0)
    for n, size, start in [(9, 1, 0), (9, 4, 3), (5, 2, 0), (12, 5, 2)]:
        got = by_name(n, size, start)
        assert sorted(got) == sorted(f"synthetic-{i}" for i in range(start, n))
        for name in set(got) & set(reference):
            np.testing.assert_array_equal(got[name][0], reference[name][0])
            np.testing.assert_array_equal(got[name][1], reference[name][1])
            assert got[name][2] == reference[name][2]
    other_seed = by_name(3, 3, 0)["synthetic-0"][0]
    assert other_seed.dtype == np.float32 and other_seed.shape == (32, 32, 3)
    assert not np.array_equal(
        by_name(1, 1, 0)["synthetic-0"][0],
        next(synthetic_stream(1, image_size=32, seed=8).batches(1)).images[0],
    )


def test_synthetic_labels_are_balanced_for_every_n_and_masks_cover_the_object():
    labels = [synthetic_label(i, seed=3, num_classes=4) for i in range(23)]
    for n in range(1, 24):
        counts = np.bincount(labels[:n], minlength=4)
        assert counts.max() - counts.min() <= 1
    with_obj = next(synthetic_stream(6, image_size=32, seed=3).batches(6))
    without = next(synthetic_stream(6, image_size=32, seed=3, objects=False).batches(6))
    assert with_obj.labels == labels[:6] == without.labels
    np.testing.assert_array_equal(with_obj.masks, without.masks)
    for image, empty, mask in zip(with_obj.images, without.images, with_obj.masks, strict=True):
        assert mask.sum() > 20
        np.testing.assert_array_equal(image[~mask], empty[~mask])  # same scene, same draws
        assert np.abs(image[mask] - empty[mask]).max(axis=-1).min() > 0
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_stream(4, seed=0, num_classes=9)
    with pytest.raises(ValueError, match="n must be"):
        synthetic_stream(0, seed=0)


def test_photos_stream_matches_load_photos_and_skips_a_failing_photo(monkeypatch):
    stream = photos_stream(["camera", "chelsea"])
    assert stream.name == "photos" and len(stream) == 2
    (batch,) = list(stream.batches(2))
    assert batch.names == ["camera", "chelsea"]
    assert batch.images[0].shape == (512, 512, 3) and batch.images[1].shape == (300, 451, 3)
    monkeypatch.setitem(photos_module._LOADERS, "camera", lambda: 1 / 0)
    with pytest.warns(ImageSkippedWarning, match="'camera'.*ZeroDivisionError"):
        (batch,) = list(photos_stream(["camera", "chelsea"]).batches(2))
    assert batch.names == ["chelsea"] and batch.skipped[0][0] == "photo 'camera'"
    with pytest.raises(ValueError, match="unknown photo name"):
        photos_stream(["dog"])


def test_image_seed_is_blake2b_of_seed_and_name():
    def reference(seed, name):  # independent of the helper: hashlib by hand
        digest = hashlib.blake2b(f"{seed}/image/{name}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") & 0x7FFFFFFF

    for seed, name in [(0, "cat/1.jpg"), (12345, "item-3"), (0, "item-3")]:
        assert image_seed(seed, name) == reference(seed, name)
    assert len({image_seed(s, n) for s in (0, 1) for n in ("a", "b", "c")}) == 6
    assert 0 <= image_seed(2**40, "x") < 2**31


# --- bounded read-ahead, memory and threads ----------------------------------------------


def _counting(n, pulled, size=16):
    for i in range(n):
        pulled.append(i)
        yield np.full((size, size, 3), i % 256, np.uint8)


@pytest.mark.parametrize("prefetch, workers", [(1, 0), (1, 2), (2, 1)])
def test_reading_runs_at_most_prefetch_plus_one_batches_ahead(prefetch, workers):
    pulled, size = [], 5
    batches = array_stream(_counting(1000, pulled)).batches(size, prefetch=prefetch, workers=workers)
    first = next(batches)
    deadline = time.monotonic() + 10
    while len(pulled) < size * (prefetch + 1) and time.monotonic() < deadline:
        time.sleep(0.01)  # the reader fills the queue in the background...
    time.sleep(0.2)  # ...and is given time to run further ahead than it may
    # Held by the caller, queued (prefetch), assembled and waiting, the next image read
    # ahead to close the full batch, and up to 2 * workers - 1 more in the decode window.
    bound = (prefetch + 2) * size + max(1, 2 * workers)
    assert size * (prefetch + 1) <= len(pulled) <= bound
    assert first.indices == list(range(size))
    batches.close()


def _peak_traced_bytes(n, size, image_side):
    gen = (np.full((image_side, image_side, 3), i % 256, np.uint8) for i in range(n))
    tracemalloc.start()
    try:
        count = 0
        for batch in array_stream(gen).batches(size, prepare=np.stack):
            count += len(batch)
        return tracemalloc.get_traced_memory()[1], count
    finally:
        tracemalloc.stop()


def test_peak_memory_is_a_few_batches_whatever_the_number_of_images():
    size, side = 8, 48
    image_bytes = side * side * 3
    small, n_small = _peak_traced_bytes(200, size, side)
    large, n_large = _peak_traced_bytes(2000, size, side)
    assert (n_small, n_large) == (200, 2000)
    # Alive at once, as listed and prepared copies: at most (prefetch + 2) batches of
    # images plus the decode window, and as many stacked batches: bound 2 * that.
    bound = 2 * ((1 + 2) * size + 4) * image_bytes + 256 * 1024  # + interpreter objects
    assert large < bound, (large, bound)
    assert large < 0.05 * 2000 * image_bytes  # far below holding every image
    assert large < 1.5 * small, (small, large)


def test_closing_early_or_failing_leaves_no_thread(folder):
    root, _ = folder
    before = threading.active_count()
    batches = folder_stream(root).batches(2, workers=2)
    next(batches)
    assert threading.active_count() > before  # the reader and its decoders are running
    batches.close()
    assert threading.active_count() == before
    for _ in folder_stream(root).batches(1, workers=3):
        break
    assert threading.active_count() == before  # the abandoned generator was closed

    def failing(images):
        raise RuntimeError("prepare failed")

    with pytest.raises(RuntimeError, match="prepare failed"):
        list(folder_stream(root).batches(3, prepare=failing))
    assert threading.active_count() == before


def test_folder_options_select_files_as_load_folder_does(folder):
    root, expected = folder
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"")
    flat = folder_stream(root, recursive=False, suffixes=("PNG",))
    assert [b.names for b in flat.batches(10)] == [[f"r{k}.png" for k in range(4)]]
    everything = folder_stream(root)
    assert len(everything) == 11  # notes.txt is a candidate without suffixes, .hidden is not
    with pytest.warns(ImageSkippedWarning, match="notes.txt"):
        names, _, _ = _flatten(everything.batches(4))
    assert names == sorted(expected)
