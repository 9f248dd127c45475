"""The peer libraries' calls used by ``bench_peers.py`` (imported only there).

Every peer is imported inside a function, so this module imports without them (the
peers are never dependencies of saliency-bench: they live in a separate venv, see
``bench/requirements-peers.txt``). A peer that fails to import or to run is reported
with the exception text by the caller, and the benchmark goes on with the others.

Peers see the *bare* Keras model (logits) and the images already normalised by the
model's own value transform (``Preprocessing.normalize_numpy``); saliency-bench
differentiates with respect to raw RGB through that transform. The transforms are
affine per channel, so a peer's map is converted to raw-RGB units by the chain rule
(:func:`chain_factor`) before maps are compared, and a substrate of 0 in the peer's
input space is RISE's "zero of the normalised input", the substrate saliency-bench
uses for deletion.
"""

from __future__ import annotations

import importlib.metadata
import time

import numpy as np

__all__ = ["PEERS", "PROTOCOLS", "chain_factor", "peer_versions", "quantus_job", "single_call", "xplique_job"]

PEERS = ("xplique", "pair", "tf-keras-vis", "quantus")
_DISTRIBUTIONS = {
    "xplique": "xplique",
    "pair": "saliency",
    "tf-keras-vis": "tf-keras-vis",
    "quantus": "quantus",
    "tensorflow-probability": "tensorflow-probability",
    "tf-keras": "tf-keras",
}

# How each peer's pipeline differs from saliency-bench's `check` (printed and written
# with the results). saliency-bench's side: RISE deletion (class probability of the clean
# top-1, pixels set to 0 of the normalised input) and insertion (from RISE's blur, 11 px
# Gaussian, sigma 5, zero padding) over `curve_steps` steps, value = area under the mean
# curve over the fraction moved; cascading randomization of every block from the logits
# down, each variable re-drawn from its layer's own initializer, value = mean Spearman of
# |sum over channels| at the last step (four measures computed at every step);
# random-logit: SSIM of the signed channel-sum maps of the top-1 and a seeded random other
# class. Maps for the curves: max over channels of |gradient of the logit|.
PROTOCOLS = {
    "xplique": [
        "maps: xplique.attributions.Saliency = max over channels of |gradient of the logit| "
        "(same as ours), w.r.t. the normalised input",
        "Deletion/Insertion: the same steps as ours when --peer-curve-steps equals --curve-steps "
        "(linspace(0, H*W, steps+1) pixels), activation='softmax' (probability), targets = the "
        "clean top-1 one-hot; Deletion baseline_mode=0.0 (= RISE's zero of the normalised "
        "input, ours); Insertion baseline_mode = RISE's blur of the normalised image, the same "
        "substrate as ours (xplique's default is 0.0); value = xplique's own trapezoid over "
        "the mean curve (= area under the mean curve over the fraction moved, as ours); "
        "pixels ordered by np.argsort(map)[::-1] (ties reversed raster order; ours: raster)",
        "ModelRandomizationMetric with ProgressiveLayerRandomization(stop_layer=1.0): one step, "
        "every layer with weights at once, each weight drawn from uniform[0, 1) (ours: every "
        "block in cascade, each variable from its layer's own initializer); similarity = "
        "Spearman of the maps (non-negative: abs max over channels); one clone of the model "
        "(metric batch_size=None)",
        "RandomLogitMetric: SSIM (tf.image.ssim, 11 px window, data range from the pair) of "
        "the abs-max maps of the top-1 and an off-class drawn with tf.random (ours: SSIM of "
        "signed channel-sum maps, class drawn with numpy)",
    ],
    "quantus": [
        "maps: a vanilla-gradient explain_func written for this benchmark (tf.function, "
        "max over channels of |gradient of the logit|), since quantus.explain needs tf-explain "
        "for Keras models; Quantus normalises each map by its max (normalise=True)",
        "PixelFlipping: features_in_step must divide H*W (asserts.assert_features_in_step) but "
        "the step counts channel values (the map is broadcast to C x H x W), so a step moves "
        "H*W/steps channel values = 1/3 of the pixels of one of our steps: 3 x steps forward "
        "passes, every third point equals our curve's point; perturb_baseline=0.0 (ours), "
        "softmax=True (probability); no point for the clean image; return_auc_per_sample and "
        "get_auc_score fail on NumPy 2.4 (np.trapz removed), so the curves are returned and "
        "the area is taken here",
        "no insertion metric in Quantus",
        "MPRT: layer_order='top_down', skip_layers=True (maps only for the trained and the "
        "fully randomized model; Quantus's default computes maps after every one of the "
        "weighted layers: 107 in ResNet50, 99 in Lite0), return_last_correlation=True; each "
        "layer's weights permuted along axis 0 (np.random.permutation), on a keras "
        "clone_model copy, which in Keras 3 (as in tf.keras 2) has freshly initialised "
        "weights: the trained values are never copied into it, so what is permuted are "
        "initial values, drawn unseeded (the value changes from run to run with the same "
        "seed); similarity = Spearman of the "
        "abs, max-normalised maps. Its first explain_batch call passes NCHW inputs to the "
        "explain_func for a TensorFlow model (the explain_func here transposes them back)",
        "RandomLogit: SSIM (skimage) of the max-normalised maps flattened to 1-D vectors "
        "(ours: 2-D SSIM), off-class drawn with np.random.seed(seed)",
    ],
    "pair": [
        "saliency.core.GradientSaliency.GetMask: one image per call (its API), "
        "call_model_function wrapping a tf.function (batch 1, gradient of the logit); "
        "max over channels of |gradient| taken here"
    ],
    "tf-keras-vis": [
        "tf_keras_vis.saliency.Saliency(model, model_modifier=None, clone=False) "
        "with CategoricalScore(targets), normalize_map=False: eager GradientTape "
        "over the batch, max over channels of |gradient of the logit|"
    ],
}


def peer_versions() -> dict:
    """Installed versions of the peers and of the packages xplique needs (None = missing)."""
    out = {}
    for name, dist in _DISTRIBUTIONS.items():
        try:
            out[name] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def chain_factor(preprocessing) -> float:
    """Factor turning |d logit / d normalised input| maps into |d logit / d raw RGB| maps.

    ``normalize(x)[..., j] = (x[..., order[j]] * scale - mean[j]) / std[j]``, so the raw
    gradient of channel ``order[j]`` is the normalised one times ``scale / std[j]``; with
    the same ``std`` for every channel the max-abs map scales by one factor. Raises
    ValueError for per-channel std (the benchmark's two models have one std).
    """
    std = np.asarray(preprocessing.std, np.float64)
    if not np.allclose(std, std[0]):
        raise ValueError(
            f"preprocessing {preprocessing.name!r} has a per-channel std {std}; "
            "the max-abs map cannot be converted with one factor"
        )
    return float(preprocessing.scale / std[0])


def _grad_fn():
    """tf.function (model, x, targets) -> gradient of each row's target logit w.r.t. x."""
    import tensorflow as tf

    @tf.function
    def grad(model, x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x, training=False), targets, axis=1, batch_dims=1)
        return tape.gradient(score, x)

    return grad


# --- (a) single saliency calls -----------------------------------------------------------


def single_call(peer: str, model, batch: int):
    """A callable ``(x_norm, targets) -> (N, H, W) float32 max-abs maps`` for one peer.

    ``x_norm`` is the normalised batch (numpy), ``targets`` the class ids; each call
    ends with the maps on the host. Imports the peer (ImportError if missing).
    """
    import tensorflow as tf

    if peer == "xplique":
        from xplique.attributions import Saliency

        explainer = Saliency(model, batch_size=batch)
        classes = int(model.outputs[0].shape[-1])

        def call(x, targets):
            onehot = np.eye(classes, dtype=np.float32)[targets]
            return np.asarray(explainer.explain(x, onehot))[..., 0]

        return call
    if peer == "pair":
        import saliency.core as pair

        grad = tf.function(lambda x, t: _pair_grad(model, x, t))
        key = pair.base.INPUT_OUTPUT_GRADIENTS

        def call_model_function(x_batch, call_model_args=None, expected_keys=None):
            g = grad(tf.constant(x_batch, tf.float32), tf.constant(call_model_args["class"], tf.int32))
            return {key: g.numpy()}

        method = pair.GradientSaliency()

        def call(x, targets):
            return np.stack(
                [
                    np.abs(method.GetMask(x[i], call_model_function, {"class": int(targets[i])})).max(axis=-1)
                    for i in range(len(x))
                ]
            )

        return call
    if peer == "tf-keras-vis":
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.scores import CategoricalScore

        saliency = Saliency(model, model_modifier=None, clone=False)

        def call(x, targets):
            return np.asarray(
                saliency(CategoricalScore([int(t) for t in targets]), x, normalize_map=False), np.float32
            )

        return call
    raise ValueError(f"{peer} has no single-call saliency here (Quantus evaluates, it does not explain)")


def _pair_grad(model, x, target):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x, training=False)[:, target]
    return tape.gradient(score, x)


# --- (b) the peers' check jobs --------------------------------------------------------------


def _timed(record: dict, name: str, fn):
    start = time.perf_counter()
    out = fn()
    record[name] = {"seconds": time.perf_counter() - start}
    return out


def rise_blur_baseline(images: np.ndarray) -> np.ndarray:
    """RISE's insertion substrate of normalised images: 11 px Gaussian (sigma 5), zero padding."""
    import tensorflow as tf

    from saliency_core.checks.perturbation import rise_blur_kernel

    channels = images.shape[-1]
    kernel = np.repeat(rise_blur_kernel(11, 5.0)[:, :, None, None], channels, axis=2)
    return tf.nn.depthwise_conv2d(
        tf.constant(images, tf.float32), tf.constant(kernel, tf.float32), strides=[1, 1, 1, 1], padding="SAME"
    ).numpy()


def xplique_job(model, x: np.ndarray, *, batch: int, steps: int, seed: int) -> dict:
    """xplique's pipeline: top-1 targets, Saliency maps, Deletion, Insertion, model
    randomization and random logit. Returns per-step seconds, values and mean curves."""
    from xplique.attributions import Saliency
    from xplique.metrics import (
        Deletion,
        Insertion,
        ModelRandomizationMetric,
        ProgressiveLayerRandomization,
        RandomLogitMetric,
    )

    rec: dict = {}
    logits = _timed(rec, "targets", lambda: model.predict(x, batch_size=batch, verbose=0))
    onehot = np.eye(logits.shape[-1], dtype=np.float32)[np.argmax(logits, axis=1)]
    explainer = Saliency(model, batch_size=batch)
    maps = _timed(rec, "maps", lambda: np.asarray(explainer(x, onehot)))
    for name, cls, baseline in (("deletion", Deletion, 0.0), ("insertion", Insertion, rise_blur_baseline)):
        metric = cls(
            model, x, onehot, batch_size=batch, steps=steps, activation="softmax", baseline_mode=baseline
        )
        curve = _timed(rec, name, lambda metric=metric: metric.detailed_evaluate(maps))
        scores = np.array(list(curve.values()), np.float64)
        rec[name].update(
            value=float(np.mean(scores[:-1] + scores[1:]) * 0.5),  # xplique's evaluate()
            mean_curve=scores.tolist(),
            pixels=[int(k) for k in curve],
            forward_images=len(x) * (steps + 1),
        )
    strategy = ProgressiveLayerRandomization(stop_layer=1.0)
    rec["mprt"] = {}
    value = _timed(
        rec,
        "mprt",
        lambda: ModelRandomizationMetric(
            model, x, onehot, randomization_strategy=strategy, batch_size=None, seed=seed
        )(explainer),
    )
    rec["mprt"].update(
        value=float(value),
        saliency_images=2 * len(x),
        randomized_maps=_degenerate_maps(model, x, onehot, strategy, batch, seed),
    )
    value = _timed(
        rec,
        "random-logit",
        lambda: RandomLogitMetric(model, x, onehot, batch_size=None, seed=seed)(explainer),
    )
    rec["random-logit"].update(value=float(value), saliency_images=2 * len(x))
    return rec


def _degenerate_maps(model, x, onehot, strategy, batch, seed) -> dict:
    """Untimed diagnostic: the randomized model's xplique maps, as the metric computes
    them (same strategy and tf seed): how many are constant (Spearman is then 0 by
    xplique's epsilon, not by dissimilarity) or not finite."""
    import tensorflow as tf
    from xplique.attributions import Saliency

    tf.random.set_seed(seed)
    clone = tf.keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    strategy.randomize(clone)
    maps = np.asarray(Saliency(clone, batch_size=batch)(x, onehot)).reshape(len(x), -1)
    finite = np.isfinite(maps).all(axis=1)
    constant = finite & (maps.max(axis=1) == maps.min(axis=1))
    logits = np.asarray(clone.predict(x, batch_size=batch, verbose=0))
    return {
        "constant": int(constant.sum()),
        "not_finite": int((~finite).sum()),
        "images": len(x),
        "logits_finite": bool(np.isfinite(logits).all()),
    }


def quantus_explain_func():
    """Quantus ``explain_func``: max over channels of |gradient of the target logit|.

    Accepts NHWC or NCHW batches (Quantus's MPRT passes NCHW to a TensorFlow model's
    first explanation call) and returns (N, 1, H, W), the channel-first layout Quantus's
    metrics broadcast against the inputs.
    """
    grad = _grad_fn()

    def explain(model, inputs, targets, **kwargs):
        import tensorflow as tf

        inputs = np.asarray(inputs, np.float32)
        if inputs.shape[1] == 3 and inputs.shape[-1] != 3:
            inputs = inputs.transpose(0, 2, 3, 1)
        g = grad(model, tf.constant(inputs), tf.constant(np.asarray(targets).reshape(-1), tf.int32))
        return np.abs(g.numpy()).max(axis=-1)[:, None]  # (N, 1, H, W): Quantus's channel-first maps

    return explain


def quantus_job(model, x: np.ndarray, *, batch: int, steps: int, seed: int, all_layers: bool = False) -> dict:
    """Quantus's pipeline: top-1 targets, PixelFlipping, MPRT and RandomLogit, each
    computing its maps through the explain_func. Returns seconds, values and curves."""
    import quantus

    rec: dict = {}
    logits = _timed(rec, "targets", lambda: model.predict(x, batch_size=batch, verbose=0))
    y = np.argmax(logits, axis=1)
    explain = quantus_explain_func()
    common = dict(
        model=model,
        x_batch=x,
        y_batch=y,
        a_batch=None,
        explain_func=explain,
        channel_first=False,
        batch_size=batch,
    )
    height, width = x.shape[1:3]
    features = height * width // steps
    pf = quantus.PixelFlipping(
        features_in_step=features, perturb_baseline=0.0, return_auc_per_sample=False, disable_warnings=True
    )
    curves = np.asarray(_timed(rec, "deletion", lambda: pf(softmax=True, **common)), np.float64)
    fractions = np.arange(1, curves.shape[1] + 1) * features / float(x[0].size)
    rec["deletion"].update(
        metric="PixelFlipping",
        value=float(np.trapezoid(curves.mean(axis=0), fractions)),
        value_note="area under the mean curve over its points (fraction of channel values moved)",
        curves=curves.tolist(),
        forward_images=int(curves.size),
    )
    mprt = quantus.MPRT(
        layer_order="top_down",
        skip_layers=not all_layers,
        seed=seed,
        return_last_correlation=True,
        disable_warnings=True,
    )
    scores = _timed(rec, "mprt", lambda: mprt(**common))
    layers = sum(1 for layer in model.layers if layer.get_weights())
    rec["mprt"].update(
        metric="MPRT",
        value=float(np.mean(scores)),
        layers=layers,
        saliency_images=len(x) * ((layers if all_layers else 1) + 2),
    )
    rl = quantus.RandomLogit(num_classes=int(logits.shape[-1]), seed=seed, disable_warnings=True)
    scores = _timed(rec, "random-logit", lambda: rl(**common))
    rec["random-logit"].update(metric="RandomLogit", value=float(np.mean(scores)), saliency_images=2 * len(x))
    return rec
