"""ROAD: deletion with noisy linear imputation (Rong et al., ICML 2022).

Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods" (arXiv:2202.00449), section "Noisy Linear
Imputation". Replacing removed pixels by a constant leaks class information
through the *shape* of the removed region: the model can read the mask instead of
missing the pixels. ROAD fills each removed pixel with the weighted mean of its 8
neighbours (solved jointly for all removed pixels, known pixels fixed) plus a little
Gaussian noise, so the removed region carries neither its old values nor a
recognisable outline. It is evaluated removing the most relevant pixels first (MoRF:
a faithful map makes the score drop, lower AUC is better) and the least relevant
first (LeRF: the score should stay, higher is better).

Settings taken from the authors' code (github.com/tleemann/road_evaluation,
road/imputations.py, ``NoisyLinearImputer``): neighbour weights 1/6 for the 4 direct
neighbours and 1/12 for the 4 diagonal ones; at the image border the missing
neighbours are dropped and the remaining weights renormalised; noise standard
deviation 0.01 in units of the [0, 1] image range, i.e. ``0.01 * 255`` on raw RGB in
[0, 255] here (``noise`` is a fraction of the value range), added to imputed pixels
only and not clipped. Imputation runs in the raw input space; the linear part is the
same as imputing in normalised space because the value transform is affine per
channel (only the noise scale depends on the space, hence the range convention).

The reference code's LeRF at fraction ``p`` removes all but the ``p`` most relevant
pixels and then flips the curve; here every curve point is "fraction ``f`` of the
pixels removed", in the chosen order, which is the same curve for the symmetric
default fractions. Ties are broken by raster index (stable sort), where the
reference adds 1e-4 random noise to the map.

The imputation is a sparse linear solve on the CPU (scipy), one per curve point for
all images at once (a block-diagonal system); the imputed images are then scored
with the classifier's compiled forward pass in fixed-size chunks.
"""

from __future__ import annotations

import numpy as np

from ..gradients import GradientFunction
from ..models.classifier import as_classifier
from ..seeds import image_seeds
from .curve_scoring import (
    CurveResult,
    check_curve_inputs,
    class_scores,
    clean_logits,
    config_record,
    finish_curve,
    forward_for,
    pixel_ranks,
    resolve_targets,
    run_chunks,
)
from .perturbation import ROAD_FRACTIONS, CurveConfig

__all__ = ["NEIGHBOUR_WEIGHTS", "noisy_linear_impute", "road_curve"]

# (row offset, column offset) -> weight, from the ROAD reference implementation.
NEIGHBOUR_WEIGHTS = (
    ((-1, 0), 1 / 6),
    ((1, 0), 1 / 6),
    ((0, -1), 1 / 6),
    ((0, 1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((1, 1), 1 / 12),
)


def noisy_linear_impute(images: np.ndarray, removed: np.ndarray, *, noise_std: float, rng) -> np.ndarray:
    """Fill removed pixels with the weighted mean of their 8 neighbours, plus noise.

    Every removed pixel ``i`` (all channels) satisfies
    ``x_i = sum_j w_j x_j / sum_j w_j`` over its in-image neighbours ``j`` (known
    pixels at their values, removed ones at their imputed values), with ``w`` from
    :data:`NEIGHBOUR_WEIGHTS`; then ``noise_std * N(0, 1)`` is added to each imputed
    value. The system is built with vectorised index arithmetic (a loop over the 8
    stencil offsets only) and solved with ``scipy.sparse.linalg.spsolve``; the images
    of the batch form independent blocks of one system.

    Args:
        images: (N, H, W, C) or (H, W, C) values.
        removed: (N, H, W) or (H, W) bool, True where the pixel is removed.
        noise_std: Noise standard deviation, in the units of ``images``.
        rng: Source of the noise: one ``np.random.Generator``, or one per image (each
            image's noise then depends on its own generator only, in raster order).

    Returns:
        float64 array shaped like ``images``; known pixels unchanged.
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    images = np.asarray(images, dtype=np.float64)
    removed = np.asarray(removed, dtype=bool)
    single = images.ndim == 3
    if single:
        images, removed = images[None], removed[None]
    if removed.shape != images.shape[:3]:
        raise ValueError(f"removed must be (N, H, W) = {images.shape[:3]}, got {removed.shape}")
    n, height, width, channels = images.shape
    out = images.copy()
    if removed.any(axis=(1, 2)).any():
        full = removed.all(axis=(1, 2))
        if full.any():
            raise ValueError(
                f"image(s) {np.flatnonzero(full).tolist()} have every pixel removed; "
                "linear imputation needs at least one known pixel"
            )
        img, row, col = np.nonzero(removed)  # the unknowns, in raster order per image
        count = len(img)
        variable = np.full(removed.shape, -1, np.int64)
        variable[img, row, col] = np.arange(count)
        diagonal = np.zeros(count)
        rhs = np.zeros((count, channels))
        a_rows, a_cols, a_vals = [], [], []
        for (dy, dx), weight in NEIGHBOUR_WEIGHTS:
            r, c = row + dy, col + dx
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            diagonal[inside] += weight
            eq = np.flatnonzero(inside)
            ni, nr, nc = img[eq], r[eq], c[eq]
            unknown = removed[ni, nr, nc]
            a_rows.append(eq[unknown])
            a_cols.append(variable[ni[unknown], nr[unknown], nc[unknown]])
            a_vals.append(np.full(int(unknown.sum()), -weight))
            known = ~unknown
            np.add.at(rhs, eq[known], weight * images[ni[known], nr[known], nc[known]])
        a_rows.append(np.arange(count))
        a_cols.append(np.arange(count))
        a_vals.append(diagonal)
        system = csc_matrix(
            (np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))), shape=(count, count)
        )
        solution = np.asarray(spsolve(system, rhs)).reshape(count, channels)
        if noise_std > 0:
            if isinstance(rng, np.random.Generator):
                solution = solution + noise_std * rng.standard_normal(solution.shape)
            else:
                for i in np.unique(img):
                    rows = img == i
                    solution[rows] += noise_std * rng[i].standard_normal((int(rows.sum()), channels))
        out[img, row, col] = solution
    return out[0] if single else out


def road_curve(
    classifier,
    images,
    maps,
    *,
    order: str,
    fractions=ROAD_FRACTIONS,
    seed: int,
    targets=None,
    noise: float = 0.01,
    score: str = "probability",
    chunk_size: int = 32,
    forward: GradientFunction | None = None,
) -> CurveResult:
    """ROAD curve: score after removing a fraction of pixels with noisy linear imputation.

    Args:
        classifier: A :class:`~saliency_core.models.classifier.Classifier` (or a Keras model).
        images: (N, H, W, C) in the classifier's input space.
        maps: (N, H, W) saliency maps.
        order: "most-relevant-first" (MoRF; lower AUC is better) or
            "least-relevant-first" (LeRF; higher is better).
        fractions: Increasing fractions of the H x W pixels removed, each < 1;
            ``k = floor(f * H * W)`` pixels at each point.
        seed: Seed of the imputation noise (``np.random.default_rng(seed)``, drawn
            point by point in order), so a run is reproducible.
        targets: The class each map explains, scored along the curve (as in
            :func:`~saliency_core.checks.curves.deletion_curve`): class ids per image,
            -1 or None for the clean top-1 class.
        noise: Noise standard deviation as a fraction of the value range: 255 for
            classifiers taking raw RGB in [0, 255], else the batch's max - min.
        score: "probability" or "logit" of the target class.
        chunk_size: Imputed images per compiled forward call.
        forward: An existing forward function for this classifier, to reuse its
            compiled code.

    Returns:
        :class:`~saliency_core.checks.curve_scoring.CurveResult` with ``fractions`` as
        given; ``auc`` is ``np.trapezoid`` over those fractions (not rescaled to [0, 1]).
    """
    source, classifier = classifier, as_classifier(classifier)
    config = CurveConfig(
        substrate="noisy-linear",
        score=score,
        order=order,
        chunk_size=chunk_size,
        fractions=tuple(fractions),
        noise=noise,
    )
    images, maps = check_curve_inputs(classifier, images, maps)
    n, height, width, _ = images.shape
    counts = config.removed_counts(height, width)
    if counts[-1] >= height * width:
        raise ValueError("ROAD fractions must leave at least one pixel (each f < 1)")
    forward = forward_for(classifier, forward, source=source)
    steps = len(counts)
    chunk = min(chunk_size, n * steps)
    traces_before = forward.traces
    # Per image, so that the noise of an image does not depend on the others in its chunk.
    value_range = (
        np.full(n, 255.0)
        if classifier.raw_input
        else np.ptp(images.reshape(n, -1), axis=1).astype(np.float64)
    )

    logits, clean_calls = clean_logits(forward, images, chunk)
    targets, target_source = resolve_targets(targets, logits)

    ranks = pixel_ranks(maps, order).reshape(n, height, width)
    rngs = [np.random.default_rng(int(s)) for s in image_seeds(seed, images)]
    imputed = np.empty((n, steps, *images.shape[1:]), images.dtype)
    for s, k in enumerate(counts):  # one sparse solve per curve point per image
        for i in range(n):
            imputed[i, s] = noisy_linear_impute(
                images[i], ranks[i] < k, noise_std=noise * value_range[i], rng=rngs[i]
            )
    imputed = imputed.reshape(n * steps, *images.shape[1:])

    logits, calls = run_chunks(forward, lambda index: imputed[index], n * steps, chunk)
    scores, _ = class_scores(logits, np.repeat(targets, steps), score)
    counters = dict(
        chunks=calls,
        clean_chunks=clean_calls,
        chunk_size=chunk,
        perturbed_images=n * steps,
        padded_images=calls * chunk - n * steps,
        forward_traces=forward.traces,
        forward_new_traces=forward.traces - traces_before,
    )
    record = config_record(
        config,
        classifier,
        forward,
        curve="road",
        height=height,
        width=width,
        targets=targets,
        target_source=target_source,
    )
    record.update(
        seed=seed,
        noise_std=(noise * value_range).tolist(),
        value_range=value_range.tolist(),
        noise_seeds="per image, from the seed and the image's content",
        neighbour_weights="1/6 direct, 1/12 diagonal, renormalised at borders",
    )
    return finish_curve(np.asarray(config.fractions), scores.reshape(n, steps), record, targets, counters)
