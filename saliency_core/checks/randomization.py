"""Model-parameter randomization test and random-logit test (Adebayo et al. 2018).

A saliency method that explains the model must change when the model's learned
parameters are destroyed. :func:`mprt` re-initialises the network block by block,
from the logits towards the input, and scores how similar each randomized model's
maps are to the trained model's (lower similarity = the method depends on the
parameters, which is what a faithful method should show):

* ``mode="cascading"``: step ``k`` randomizes blocks ``0..k`` (cumulative, top down).
* ``mode="independent"``: step ``k`` randomizes block ``k`` alone; the trained
  values are restored before the next step.

``order="bottom_up"`` walks the blocks from the input towards the output instead
(Hedstroem et al. 2024 argue for it: after top-down steps the trained lower layers
still shape the map). ``final_only=True`` skips the intermediate steps: one step
randomizes every block, the fully randomized model (sMPRT, eMPRT). ``explain_fn``
replaces how a model state's maps are computed (sMPRT's denoised maps).

Protocol, in the words of the checks:

* Each randomized variable is re-drawn from its layer's *own* initializer (Keras
  ``kernel_initializer``, ``bias_initializer``, BatchNorm's ``gamma``/``beta``/
  moving-statistics initializers), re-seeded with :func:`layer_seed` of the run
  seed, the layer name and the variable name. So every variable gets its own
  stream (no two layers receive the same "random" values) and the same run seed
  gives the same weights, without touching any global random state.
  Initializers that are constant by definition stay constant: a zero-initialised
  bias is reset to zero, BatchNorm is reset to gamma=1, beta=0, mean=0, variance=1.
  Variables whose layer exposes no initializer are left trained and listed in
  :attr:`RandomizationResult.skipped` (with a warning).
* The trained model is never modified: the model is cloned once
  (``keras.models.clone_model`` + ``set_weights``), one :class:`Explainer` is built
  on the clone, and each step *assigns* new values to the clone's variables, so the
  compiled gradient function is traced (and XLA-compiled) once for the whole run.
  Both properties are verified at the end of every run (``RuntimeError`` if not).
* The target class of every map is the trained model's (its top-1 unless
  ``targets`` are given), kept fixed across steps.
* Model-independent controls (``method="random"`` or ``"edge"``) flow through the
  same code: their maps do not change, so they score exactly 1 at every step. A
  check that cannot tell them from a gradient map is broken.

:func:`random_logit` compares the map for the top-1 class with the map for a
seeded random other class (Sixt et al. 2020 use it to expose class-insensitive
methods): similar maps mean the method does not explain the class.
"""

from __future__ import annotations

import dataclasses
import re
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..explainer import Explainer
from ..models.classifier import Classifier, as_classifier
from ..models.init import layer_seed, random_weights
from ..seeds import image_seeds
from .similarity import SIMILARITIES, Reference, check_measures

__all__ = [
    "MODES",
    "ORDERS",
    "ALL_LAYERS",
    "RandomizationResult",
    "RandomLogitResult",
    "randomization_blocks",
    "layer_seed",
    "random_weights",
    "mprt",
    "random_logit",
]

MODES = ("cascading", "independent")
ORDERS = ("top_down", "bottom_up")
ALL_LAYERS = "all layers"
"""Name of the one step of ``mprt(..., final_only=True)``: every block randomized."""

# Names of keras.applications-style blocks: "conv5_block3_2_conv" -> "conv5_block3",
# "conv1_conv" -> "conv1", "block1a_dwconv" -> "block1a", "block_3_expand" -> "block_3";
# and of transformer encoder blocks (models.vit): "encoder_block_3_query" -> "encoder_block_3".
_BLOCK_PATTERN = re.compile(
    r"^(conv\d+_block\d+|stage\d+_block\d+|conv\d+|stage\d+|block_?\d+[a-z]?|encoder_block_\d+)_"
)

# Variable name -> layer attributes holding its initializer, tried in order.


# --- blocks and seeds ------------------------------------------------------------------


def _keras_model(model):
    return model.model if isinstance(model, Classifier) else model


def _leaf_layers(model) -> list:
    """Layers in forward (topological) order, nested models flattened."""
    import keras

    out = []
    for layer in model.layers:
        out.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return out


def _weighted(layer) -> bool:
    return bool(layer.trainable and layer.weights)


def _is_batchnorm(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def _producer(layer, weighted_names: set[str]):
    """Name of the weighted layer whose output feeds ``layer`` (through weightless
    single-input layers), or None."""
    try:
        node = layer._inbound_nodes[0]
        for _ in range(64):
            parents = node.parent_nodes
            if len(parents) != 1:
                return None
            op = parents[0].operation
            if op.name in weighted_names:
                return op.name
            node = parents[0]
    except (AttributeError, IndexError):
        return None
    return None


def _named_blocks(model) -> list[tuple[str, list]]:
    """[(block name, layers in forward order)], the block nearest the output first."""
    layers = [layer for layer in _leaf_layers(_keras_model(model)) if _weighted(layer)]
    names = {layer.name for layer in layers}
    key_of: dict[str, str] = {}
    for layer in layers:
        match = _BLOCK_PATTERN.match(layer.name)
        if match:
            key_of[layer.name] = match.group(1)
        elif _is_batchnorm(layer) and (src := _producer(layer, names)) in key_of:
            key_of[layer.name] = key_of[src]
        else:
            key_of[layer.name] = layer.name
    blocks: dict[str, list] = {}
    for layer in layers:
        blocks.setdefault(key_of[layer.name], []).append(layer)
    return list(reversed(list(blocks.items())))


def randomization_blocks(model) -> list[list]:
    """Weighted trainable layers grouped into blocks, ordered from the output to the input.

    Layers named like ``keras.applications`` blocks are grouped by their prefix
    (ResNet50's ``conv5_block3_1_conv`` ... ``conv5_block3_3_bn`` form block
    ``conv5_block3``; ``conv1_conv`` + ``conv1_bn`` form ``conv1``), and so are a
    transformer's encoder blocks (ViT's ``encoder_block_3_ln_1``, ``_query``, ...,
    ``_mlp_dense_2``: both LayerNorms, the attention and the MLP form
    ``encoder_block_3``). Any other
    weighted layer is its own block, except that a BatchNormalization layer joins
    the block of the layer that produces its input (its convolution). A block's
    name (reported by :func:`mprt`) is the prefix, or its first layer's name.

    Args:
        model: A :class:`Classifier` or a Keras model.

    Returns:
        A list of blocks, the block nearest the output first; each block is a list
        of Keras layers in forward order.
    """
    return [layers for _, layers in _named_blocks(model)]


# --- results ---------------------------------------------------------------------------


@dataclass
class RandomizationResult:
    """Similarity between the trained model's maps and each randomized model's.

    Attributes:
        mode: "cascading" or "independent".
        order: "top_down" or "bottom_up": the step order of the blocks.
        method: Saliency method or control the maps came from.
        seed: Run seed (randomized weights and the method's own randomness).
        blocks: Block names in step order (output side first for "top_down"; one
            :data:`ALL_LAYERS` step with ``final_only``).
        layers: Layer names randomized at each step's block.
        measures: Similarity measure names (see :data:`similarity.SIMILARITIES`).
        similarity: (steps, measures, N): ``similarity[k, j, i]`` compares image
            ``i``'s map from the trained model with step ``k``'s, under measure ``j``.
        targets: (N,) class ids the maps explain (fixed across steps).
        maps: (steps + 1, N, H, W) float32 maps, trained model first; None if not kept.
        traces: Traces of the compiled gradient function over the whole run (1 for
            "function"/"xla", 0 for eager).
        skipped: Variable paths left trained (no initializer found).
        timings: Wall-clock seconds: ``setup_s`` (clone + explainer), ``original_s``
            (first maps, includes tracing/compilation), ``reference_s`` (the trained
            maps' ranks and features), per-step lists ``assign_s``, ``explain_s``,
            ``similarity_s`` (scored on a worker thread, overlapping the next step's
            maps), ``steps_s`` (all steps, wall clock) and ``total_s``.
    """

    mode: str
    method: str
    seed: int
    blocks: list[str]
    layers: list[list[str]]
    measures: tuple[str, ...]
    similarity: np.ndarray
    targets: np.ndarray
    maps: np.ndarray | None
    traces: int
    skipped: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    order: str = "top_down"

    def mean(self) -> np.ndarray:
        """(steps, measures) mean similarity over images."""
        return self.similarity.mean(axis=-1)

    def curve(self, measure: str = "spearman_abs") -> np.ndarray:
        """(steps,) mean similarity of one measure."""
        return self.mean()[:, self.measures.index(measure)]


@dataclass
class RandomLogitResult:
    """Map for the top-1 class vs the map for a random other class.

    Attributes:
        method: Saliency method or control.
        seed: Seed of the other-class draw.
        measures: Similarity measure names.
        similarity: (measures, N).
        targets: (N,) top-1 classes.
        others: (N,) random other classes (never equal to ``targets``).
        maps: (2, N, H, W) float32: top-1 maps, other-class maps.
    """

    method: str
    seed: int
    measures: tuple[str, ...]
    similarity: np.ndarray
    targets: np.ndarray
    others: np.ndarray
    maps: np.ndarray

    def mean(self) -> np.ndarray:
        """(measures,) mean similarity over images."""
        return self.similarity.mean(axis=-1)


# --- the tests -------------------------------------------------------------------------


def _snapshot(model) -> list[np.ndarray]:
    return [np.array(v.numpy(), copy=True) for v in model.weights]


def _clone(classifier):
    """(the trained Keras model, the clone as a Classifier, the clone's Keras model)."""
    import keras

    source = _keras_model(classifier)
    try:
        clone = keras.models.clone_model(source)
    except Exception as exc:  # subclassed models and custom layers without get_config
        raise ValueError(
            f"cannot clone model {source.name!r} for randomization (the trained model is "
            f"never modified, so it must be cloneable by keras.models.clone_model; "
            f"functional and Sequential models are): {exc}"
        ) from exc
    clone.set_weights(source.get_weights())
    if isinstance(classifier, Classifier):
        return source, dataclasses.replace(classifier, model=clone), clone
    # A plain Keras model: wrap the clone itself, so a bypassed softmax head shares
    # the clone's variables.
    return source, as_classifier(clone, name=source.name), clone


def mprt(
    classifier,
    images,
    *,
    mode="cascading",
    method,
    seed: int,
    variant="xla",
    batch_size=16,
    measures=tuple(SIMILARITIES),
    targets=None,
    reduce="sum",
    score="logit",
    options=None,
    device=None,
    keep_maps=True,
    callback: Callable | None = None,
    order="top_down",
    final_only: bool = False,
    explain_fn: Callable | None = None,
    precision="float32",
) -> RandomizationResult:
    """Model-parameter randomization test (Adebayo et al. 2018, Sec. 4).

    Args:
        classifier: A :class:`Classifier` or Keras model; never modified.
        images: (N, H, W, C) in the classifier's input space.
        mode: "cascading" (cumulative, from the logits down) or "independent".
        method: A saliency method or a control ("random", "edge").
        seed: Run seed: every randomized variable's seed derives from it
            (:func:`layer_seed`), and so does the method's own seed unless
            ``options`` is given.
        variant: Gradient variant ("eager", "function", "xla").
        batch_size: Images per compiled call.
        measures: Names in :data:`SIMILARITIES`.
        targets: Class ids (N,) to explain, or None for the trained model's top-1.
        reduce: Channel reduction of the maps. "sum" keeps the sign, so "spearman"
            (signed) and "spearman_abs" differ, as in the paper; a non-negative
            reduction ("max_abs") makes them equal.
        score: "logit" or "probability".
        options: The method's options (None: its defaults; see
            :func:`~saliency_core.methods.resolve_options`). The same options and
            ``seed`` (so the same SmoothGrad noise) are used at every step.
        device: "cpu", "gpu", "gpu:N" or None.
        keep_maps: Keep every step's maps in the result.
        callback: Called as ``callback(step, block_name, clone_keras_model)`` after
            each step's weights are assigned (for inspection; must not modify it).
        order: "top_down" (blocks from the output to the input, Adebayo et al.) or
            "bottom_up" (from the input to the output).
        final_only: One step that randomizes every block at once (named
            :data:`ALL_LAYERS`): only the trained and the fully randomized model are
            explained. The weights are those of the last cascading step in either order
            (each variable's values depend on the seed and its own name only).
        explain_fn: ``explain_fn(explainer, targets) -> SaliencyResult``: the maps of
            the current model state from the :class:`Explainer` built on the clone;
            ``targets`` is None for the trained model when ``targets`` is None (resolve
            them, e.g. to the top-1 class) and the trained model's targets afterwards.
            None computes ``explainer.explain(images, method=method, ...)`` with the
            arguments above.
        precision: The network's precision; a low one reads the clone's variables as
            they are randomized (:mod:`saliency_core.precision` shares them).

    Returns:
        A :class:`RandomizationResult` with ``similarity`` (steps, measures, N).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    measures = check_measures(measures)
    t_start = time.perf_counter()

    source, clone_clf, clone = _clone(classifier)
    before = _snapshot(source)
    named = _named_blocks(source)
    if not named:
        raise ValueError(f"model {source.name!r} has no trainable layers with weights to randomize")
    if order == "bottom_up":
        named = named[::-1]
    if final_only:
        named = [(ALL_LAYERS, [layer for _, layers in named for layer in layers])]
    blocks = [layers for _, layers in named]
    clone_layers = {layer.name: layer for layer in _leaf_layers(clone)}
    # Trained values of the clone's variables, per block, for restoring (independent mode).
    trained_values = [
        [
            (clone_layers[layer.name], [np.array(v.numpy(), copy=True) for v in layer.weights])
            for layer in block
        ]
        for block in blocks
    ]
    explainer = Explainer(
        clone_clf, variant=variant, score=score, batch_size=batch_size, device=device, precision=precision
    )
    timings: dict[str, Any] = {
        "setup_s": time.perf_counter() - t_start,
        "assign_s": [],
        "explain_s": [],
        "similarity_s": [],
    }

    def explain(tg):
        if explain_fn is not None:
            return explain_fn(explainer, tg)
        return explainer.explain(images, targets=tg, method=method, reduce=reduce, options=options, seed=seed)

    t0 = time.perf_counter()
    base = explain(targets)
    timings["original_s"] = time.perf_counter() - t0
    fixed_targets = base.targets
    t0 = time.perf_counter()
    reference = Reference(base.maps, measures)  # the trained maps' ranks and features, once
    timings["reference_s"] = time.perf_counter() - t0
    traces_after_first = explainer.fn.traces
    maps = [base.maps.astype(np.float32)] if keep_maps else None
    skipped, names, pending = [], [], []

    def compare(step_maps):
        t = time.perf_counter()
        scores = reference.compare(step_maps)
        return scores, time.perf_counter() - t

    # Each step's similarity is scored on a worker thread while the next step's maps
    # are computed (TensorFlow and the numpy/scikit-image measures release the GIL).
    t_steps = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as worker:
        for k, block in enumerate(blocks):
            t0 = time.perf_counter()
            if mode == "independent" and k > 0:
                for layer, saved in trained_values[k - 1]:
                    for v, value in zip(layer.weights, saved):
                        v.assign(value)
            for layer in block:
                values, missing = random_weights(layer, seed)
                skipped.extend(missing)
                target = clone_layers[layer.name]
                for v in target.weights:
                    if v.name in values:
                        v.assign(values[v.name])
            timings["assign_s"].append(time.perf_counter() - t0)
            names.append(named[k][0])
            if callback is not None:
                callback(k, names[-1], clone)
            t0 = time.perf_counter()
            step_maps = explain(fixed_targets).maps
            timings["explain_s"].append(time.perf_counter() - t0)
            pending.append(worker.submit(compare, step_maps))
            if maps is not None:  # keep_maps
                maps.append(step_maps.astype(np.float32))
        scored = [future.result() for future in pending]  # re-raises a scoring error
    timings["steps_s"] = time.perf_counter() - t_steps
    similarity = [scores for scores, _ in scored]
    timings["similarity_s"] = [seconds for _, seconds in scored]
    if skipped:
        warnings.warn(
            f"{len(skipped)} variable(s) have no initializer and were left trained: "
            f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
            stacklevel=2,
        )
    if explainer.fn.traces != traces_after_first:
        raise RuntimeError(
            f"the gradient function was retraced during randomization "
            f"({traces_after_first} -> {explainer.fn.traces} traces)"
        )
    after = _snapshot(source)
    if len(after) != len(before) or any(a.tobytes() != b.tobytes() for a, b in zip(before, after)):
        raise RuntimeError(f"randomization modified the trained model {source.name!r}")
    timings["total_s"] = time.perf_counter() - t_start
    return RandomizationResult(
        mode=mode,
        method=method,
        seed=int(seed),
        blocks=names,
        layers=[[layer.name for layer in block] for block in blocks],
        measures=measures,
        similarity=np.stack(similarity),
        targets=fixed_targets,
        maps=np.stack(maps) if maps is not None else None,
        traces=explainer.fn.traces,
        skipped=skipped,
        timings=timings,
        order=order,
    )


def random_logit(
    classifier,
    images,
    *,
    seed: int,
    method,
    variant="xla",
    batch_size=16,
    measures=tuple(SIMILARITIES),
    reduce="sum",
    score="logit",
    options=None,
    device=None,
    precision="float32",
) -> RandomLogitResult:
    """Similarity of the top-1 class's map and a random other class's map, per image.

    The other class is drawn uniformly from the ``K - 1`` classes that are not the
    image's top-1, from a generator seeded by the run seed and the image's content (so an
    image gets the same class in any chunk or shard). Arguments as in :func:`mprt`.
    """
    measures = check_measures(measures)
    explainer = Explainer(
        classifier, variant=variant, score=score, batch_size=batch_size, device=device, precision=precision
    )
    k = explainer.classifier.num_classes
    if k < 2:
        raise ValueError("the random-logit test needs at least two classes")
    top = explainer.explain(images, method=method, reduce=reduce, options=options, seed=seed)
    draw = np.array(
        [np.random.default_rng(int(s)).integers(0, k - 1) for s in image_seeds(seed, np.asarray(images))],
        np.int64,
    )
    others = (draw + (draw >= top.targets)).astype(np.int32)  # skip the top-1 class
    other = explainer.explain(
        images, targets=others, method=method, reduce=reduce, options=options, seed=seed
    )
    return RandomLogitResult(
        method=method,
        seed=int(seed),
        measures=measures,
        similarity=Reference(top.maps, measures).compare(other.maps),
        targets=top.targets,
        others=others,
        maps=np.stack([top.maps, other.maps]).astype(np.float32),
    )
