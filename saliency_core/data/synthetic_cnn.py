"""The small CNN of the synthetic ground-truth set: its architecture, its training
recipe, and the reference model trained once and cached.

Everything is deterministic given ``seed``: seeded Keras initializers and a seeded
``tf.data`` shuffle, never global random state.

Example::

    train = make_synthetic(6000, seed=0)
    model, history = train_synthetic_cnn(train, seed=0)   # about a minute on 2 cores
    model = load_synthetic_cnn()                          # the cached reference model
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import TYPE_CHECKING

import numpy as np

from .synthetic import TRAIN_SIZE, SyntheticSet, make_synthetic

if TYPE_CHECKING:
    import keras

__all__ = ["small_cnn", "train_synthetic_cnn", "load_synthetic_cnn"]

# Bump when the generator, the architecture or the training recipe changes: it names
# the cached model file, so an old cache is never mistaken for the current model.
_CACHE_VERSION = 3


def small_cnn(
    num_classes: int, image_size: int = 64, seed: int = 0, filters: tuple[int, ...] = (16, 32, 64, 64)
) -> "keras.Model":
    """A small functional CNN that outputs logits, for RGB images in [0, 1].

    Layers, bottom to top: ``scale`` (maps [0, 1] to [-1, 1], no weights), then
    ``block1`` ... ``blockK``, each ``block{k}_conv`` (3x3, same padding, with bias)
    and ``block{k}_relu``, with ``block{k}_pool`` (2x2 max) after all but the last;
    then ``global_pool`` (global max) and ``logits`` (Dense, no activation). There is
    no BatchNorm, so every weight is in a conv or the dense layer and cascading
    randomization walks ``logits``, ``block{K}_conv``, ..., ``block1_conv``. Every
    initializer has its own seed derived from ``seed``: the same seed gives the same
    initial weights without touching global state.
    """
    import keras
    from keras import layers

    seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(len(filters) + 1)]
    inputs = keras.Input((image_size, image_size, 3), name="image")
    # Centred inputs matter here: without BatchNorm the network did not learn from [0, 1].
    x = layers.Rescaling(2.0, offset=-1.0, name="scale")(inputs)
    for k, width in enumerate(filters, start=1):
        x = layers.Conv2D(
            width,
            3,
            padding="same",
            name=f"block{k}_conv",
            kernel_initializer=keras.initializers.HeNormal(seed=seeds[k - 1]),
        )(x)
        x = layers.ReLU(name=f"block{k}_relu")(x)
        if k < len(filters):
            x = layers.MaxPooling2D(2, name=f"block{k}_pool")(x)
    x = layers.GlobalMaxPooling2D(name="global_pool")(x)
    outputs = layers.Dense(
        num_classes, name="logits", kernel_initializer=keras.initializers.GlorotUniform(seed=seeds[-1])
    )(x)
    return keras.Model(inputs, outputs, name="synthetic_cnn")


def train_synthetic_cnn(
    train_set: SyntheticSet,
    *,
    seed: int,
    epochs: int = 4,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    validation_set: SyntheticSet | None = None,
    verbose: int = 0,
):
    """Train :func:`small_cnn` on ``train_set`` with Adam and a cosine learning-rate decay.

    Measured on 2 shared CPU cores: 6000 images of 64 px, 4 epochs take 30-50 s and
    reach 0.96-0.98 accuracy on 1000 held-out images (three seeds).

    Determinism: initial weights come from seeded initializers and the batch order
    from a seeded ``tf.data`` shuffle, so no global seed is set; results can still
    differ at rounding level between machines or thread counts.

    Args:
        train_set: Images and labels to fit (masks are not used).
        seed: Seed of the initial weights and of the batch order.
        epochs: Passes over ``train_set``.
        batch_size: Images per gradient step.
        learning_rate: Peak Adam learning rate, decayed to zero by the last step.
        validation_set: Optional held-out set, evaluated after every epoch.
        verbose: Keras ``fit`` verbosity.

    Returns:
        (model, history): the trained Keras model (logits out) and the per-epoch
        metrics as a dict of lists (``loss``, ``accuracy``, and ``val_`` ones).
    """
    import keras
    import tensorflow as tf

    model = small_cnn(len(train_set.class_names), train_set.images.shape[1], seed=seed)
    steps = epochs * -(-len(train_set) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    data = (
        tf.data.Dataset.from_tensor_slices((train_set.images, train_set.labels))
        .shuffle(len(train_set), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(2)
    )
    validation = None if validation_set is None else (validation_set.images, validation_set.labels)
    history = model.fit(
        data, epochs=epochs, validation_data=validation, verbose=verbose, shuffle=False
    )  # ``data`` is already shuffled, with its seed
    return model, history.history


# --- cached reference model ------------------------------------------------------------


def _cache_dir(cache_dir) -> str:
    if cache_dir is not None:
        return str(cache_dir)
    return os.environ.get("SALIENCY_BENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "saliency-bench"
    )


def load_synthetic_cnn(cache_dir=None, seed: int = 0, *, epochs: int = 4):
    """The reference synthetic-set CNN: trained once on ``make_synthetic(TRAIN_SIZE,
    seed=seed)`` with ``train_synthetic_cnn(seed=seed)``, then cached as ``.keras``.

    Args:
        cache_dir: Folder of the cache; None means ``$SALIENCY_BENCH_CACHE``, else
            ``~/.cache/saliency-bench``.
        seed: Seed of the training images, the initial weights and the batch order.
        epochs: Training epochs (part of the cache file name).

    The file is written atomically (a temporary file in the same folder, then
    ``os.replace``), so a concurrent or interrupted run never leaves a partial model.
    A cache file that cannot be read is rebuilt with a warning; a cache folder that
    cannot be written only costs a warning. Returns the Keras model (logits out).
    """
    import keras

    folder = _cache_dir(cache_dir)
    # The training-set size is in the name: a model trained on fewer images (a test
    # that shrinks TRAIN_SIZE) must never be read back as the reference model.
    size = TRAIN_SIZE
    name = f"synthetic-cnn-v{_CACHE_VERSION}-seed{seed}-n{size}-e{epochs}.keras"
    path = os.path.join(folder, name)
    if os.path.exists(path):
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as exc:  # a truncated or foreign file: rebuild it
            warnings.warn(
                f"cached model {path} could not be read ({exc}); rebuilding it", RuntimeWarning, stacklevel=2
            )
    model, _ = train_synthetic_cnn(make_synthetic(size, seed=seed), seed=seed, epochs=epochs)
    tmp = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=folder)
        os.close(fd)
        with warnings.catch_warnings():  # Keras 3.15 saving trips a NumPy 2 copy= warning
            warnings.simplefilter("ignore", DeprecationWarning)
            model.save(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        warnings.warn(f"could not cache the synthetic CNN in {folder}: {exc}", RuntimeWarning, stacklevel=2)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return model
