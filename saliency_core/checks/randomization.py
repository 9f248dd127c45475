"""Model-parameter randomization test (Adebayo et al. 2018).

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
  A :class:`RandomizationClone` passed as ``clone`` is reused across runs (a check's
  chunks): its variables are reset to the trained values first, so its compiled
  function is traced once per image shape for the whole check, not once per chunk.
* The target class of every map is the trained model's (its top-1 unless
  ``targets`` are given), kept fixed across steps.
* Model-independent controls (``method="random"`` or ``"edge"``) flow through the
  same code: their maps do not change, so they score exactly 1 at every step. A
  check that cannot tell them from a gradient map is broken.

The random-logit test is :func:`~.random_logit_test.random_logit`.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from ..models.init import random_weights
from .randomization_blocks import leaf_layers, named_blocks
from .randomization_clone import RandomizationClone
from .randomization_result import RandomizationResult
from .similarity import SIMILARITIES, Reference, check_measures, constant_maps

__all__ = ["MODES", "ORDERS", "ALL_LAYERS", "RandomizationClone", "mprt"]


MODES = ("cascading", "independent")


ORDERS = ("top_down", "bottom_up")


ALL_LAYERS = "all layers"
"""Name of the one step of ``mprt(..., final_only=True)``: every block randomized."""


def _snapshot(model) -> list[np.ndarray]:
    return [np.array(v.numpy(), copy=True) for v in model.weights]


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
    clone: RandomizationClone | None = None,
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
        clone: A :class:`RandomizationClone` of ``classifier`` with the same variant,
            score, batch size, device and precision, reset to the trained values and
            reused (None: a new one for this run).

    Returns:
        A :class:`RandomizationResult` with ``similarity`` (steps, measures, N).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    measures = check_measures(measures)
    t_start = time.perf_counter()

    settings = dict(variant=variant, score=score, batch_size=batch_size, device=device, precision=precision)
    if clone is None:
        state = RandomizationClone(classifier, **settings)
    else:
        clone.check_fits(classifier, **settings)
        clone.reset()
        state = clone
    source, clone_model, explainer = state.source, state.model, state.explainer
    before = _snapshot(source)
    named = named_blocks(source)
    if not named:
        raise ValueError(f"model {source.name!r} has no trainable layers with weights to randomize")
    if order == "bottom_up":
        named = named[::-1]
    if final_only:
        named = [(ALL_LAYERS, [layer for _, layers in named for layer in layers])]
    blocks = [layers for _, layers in named]
    clone_layers = {layer.name: layer for layer in leaf_layers(clone_model)}
    # Trained values of the clone's variables, per block, for restoring (independent mode).
    trained_values = [
        [
            (clone_layers[layer.name], [np.array(v.numpy(), copy=True) for v in layer.weights])
            for layer in block
        ]
        for block in blocks
    ]
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

    traces_before = explainer.fn.traces  # a reused clone's Explainer has traced before
    t0 = time.perf_counter()
    base = explain(targets)
    timings["original_s"] = time.perf_counter() - t0
    fixed_targets = base.targets
    t0 = time.perf_counter()
    reference = Reference(base.maps, measures)  # the trained maps' ranks and features, once
    timings["reference_s"] = time.perf_counter() - t0
    traces_after_first = explainer.fn.traces
    maps = [base.maps.astype(np.float32)] if keep_maps else None
    constant = [constant_maps(base.maps)]
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
                callback(k, names[-1], clone_model)
            t0 = time.perf_counter()
            step_maps = explain(fixed_targets).maps
            timings["explain_s"].append(time.perf_counter() - t0)
            pending.append(worker.submit(compare, step_maps))
            constant.append(constant_maps(step_maps))
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
        traces=explainer.fn.traces - traces_before,
        skipped=skipped,
        timings=timings,
        order=order,
        constant=np.stack(constant),
    )
