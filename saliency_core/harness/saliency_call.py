"""What a timing cell calls: seeded random raw images put on the device once, and one
call computing the whole batch's saliency in chunks (:func:`prepare_saliency_call`)."""

from __future__ import annotations


import numpy as np

from ..devices import check_device, device_scope, resolve_device

__all__ = ["prepare_saliency_call", "random_inputs"]


def random_inputs(shape: tuple[int, ...], batch_size: int, dtype: str, seed: int) -> np.ndarray:
    """Seeded random raw images, uniform in [0, 255], shape (batch_size, *shape)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 255.0, size=(batch_size, *shape)).astype(dtype)


def _chunks(images: np.ndarray, chunk: int) -> list[np.ndarray]:
    """Split into chunks of ``chunk`` images, padding the last with copies of its first."""
    out = []
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk]
        if len(x) < chunk:
            x = np.concatenate([x, np.repeat(x[:1], chunk - len(x), axis=0)])
        out.append(x)
    return out


class _SaliencyCall:
    """One full saliency call on prepared device inputs (see prepare_saliency_call)."""

    def __init__(self, fn, inputs, targets, dev):
        self.fn, self.inputs, self.targets, self.dev = fn, inputs, targets, dev

    def __call__(self):
        with device_scope(self.dev):
            outs = [self.fn(x, t) for x, t in zip(self.inputs, self.targets)]  # dispatch all
            for grads, _, _ in outs:
                grads.numpy()  # then wait for each: the device has finished


def prepare_saliency_call(
    classifier,
    *,
    variant: str,
    batch_size: int,
    device: str | None = "cpu",
    seed: int = 0,
    score: str = "logit",
    chunk_size: int | None = None,
    gradient_fn=None,
    precision: str = "float32",
):
    """Inputs on the device and a call computing saliency for the whole batch.

    Returns ``(call, fn, chunk)``: ``call()`` computes the gradients of the
    ``batch_size`` seeded random images (as calls of ``chunk`` images, the last chunk
    padded) and returns once they are on the host; ``fn`` is the
    :class:`~saliency_core.gradients.GradientFunction` it calls (new unless
    ``gradient_fn`` is given). Nothing is called yet (no trace, no compile).

    Raises:
        DeviceUnavailableError: ``device`` is not visible to TensorFlow.
    """
    import tensorflow as tf

    from ..gradients import build_gradient_fn

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = resolve_device(device)
    check_device(dev)
    chunk = batch_size if not chunk_size or chunk_size >= batch_size else int(chunk_size)
    images = random_inputs(classifier.input_shape, batch_size, classifier.dtype, seed)
    with device_scope(dev):
        xs = [tf.identity(tf.constant(x)) for x in _chunks(images, chunk)]
        ts = [tf.identity(tf.constant(np.full(chunk, -1, np.int32))) for _ in xs]
    fn = gradient_fn or build_gradient_fn(classifier, variant=variant, score=score, precision=precision)
    return _SaliencyCall(fn, xs, ts, dev), fn, chunk
