"""Similarity between two sets of saliency maps, one score per image.

The four measures of the model-parameter randomization test (Adebayo et al. 2018,
"Sanity checks for saliency maps", Sec. 4): Spearman rank correlation of the
absolute maps, Spearman of the signed maps, SSIM, and Spearman of HOG features.
Each is a pure function ``(a (N, H, W), b (N, H, W)) -> (N,)`` float64 scores.

Conventions, so that no score is ever NaN:

* Two identical maps (bitwise equal) score exactly 1.0 on every measure. A
  model-independent control (random or edge map) therefore scores exactly 1 under
  any model change.
* Spearman on constant input: two rankings that are both constant (all ties) agree
  perfectly (1.0); one constant and one not carry no rank association (0.0).
* SSIM compares maps min-max normalised per map to [0, 1] (a constant map becomes
  zeros) with ``data_range=1`` and scikit-image's defaults otherwise: a 7 x 7
  uniform window (smaller odd window for maps under 7 pixels), K1=0.01, K2=0.03.
  Normalising first makes SSIM insensitive to each map's scale, which differs by
  orders of magnitude between a trained and a randomized network.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from ..reduce import normalize_maps

__all__ = [
    "constant_maps",
    "spearman_abs",
    "spearman",
    "ssim",
    "hog_spearman",
    "SIMILARITIES",
    "HOG_CELLS",
    "Reference",
    "check_measures",
]


def constant_maps(maps) -> np.ndarray:
    """(N,) True where a map of ``maps`` (N, H, W) has one value everywhere: it ranks no
    pixel, so a similarity to it says nothing about the method (Spearman scores it 0
    against any non-constant map). Gradients flushed to zero (a float16 network whose
    activations underflow) give such maps."""
    flat = np.asarray(maps).reshape(len(maps), -1)
    if flat.shape[1] == 0:
        return np.ones(len(flat), bool)
    return (flat == flat[:, :1]).all(axis=1)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim == 2 and b.ndim == 2:  # one map each
        a, b = a[None], b[None]
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"expected two map sets of the same shape (N, H, W); got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("maps contain NaN or infinite values")
    return a, b


def _ranked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred average ranks of the rows of an (N, D) array and their sums of squares."""
    r = rankdata(x, axis=1)
    r -= r.mean(axis=1, keepdims=True)
    return r, np.sum(r * r, axis=1)


def _correlate(x_ranked, y_ranked, equal_rows: np.ndarray) -> np.ndarray:
    """Spearman correlation from two :func:`_ranked` results; 1.0 where rows are equal."""
    (rx, vx), (ry, vy) = x_ranked, y_ranked
    cov = np.sum(rx * ry, axis=1)
    out = np.zeros(len(rx))
    both_const, ok = (vx == 0) & (vy == 0), (vx > 0) & (vy > 0)
    out[both_const] = 1.0
    out[ok] = cov[ok] / np.sqrt(vx[ok] * vy[ok])
    out[equal_rows] = 1.0
    return np.clip(out, -1.0, 1.0)


def spearman_abs(a, b) -> np.ndarray:
    """Spearman rank correlation of ``|a|`` and ``|b|``, per map; in [-1, 1]."""
    return Reference(a, ("spearman_abs",)).compare(b)[0]


def spearman(a, b) -> np.ndarray:
    """Spearman rank correlation of the signed maps, per map; in [-1, 1]."""
    return Reference(a, ("spearman",)).compare(b)[0]


def ssim(a, b) -> np.ndarray:
    """Structural similarity (Wang et al. 2004) of per-map min-max normalised maps.

    Uses ``skimage.metrics.structural_similarity(..., data_range=1)``; in [-1, 1].
    """
    return Reference(a, ("ssim",)).compare(b)[0]


def _ssim_normalised(a, b, same) -> np.ndarray:
    from skimage.metrics import structural_similarity

    side = min(a.shape[1:])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        raise ValueError(f"SSIM needs maps of at least 3 x 3 pixels, got {a.shape[1:]}")
    out = np.array(
        [structural_similarity(x, y, data_range=1.0, win_size=win) for x, y in zip(a, b)], dtype=np.float64
    )
    out[same] = 1.0
    return out


def _hog_features(maps: np.ndarray, pixels_per_cell: int, cells_per_block: int) -> np.ndarray:
    from skimage.feature import hog

    side = min(maps.shape[1:])
    ppc = max(1, min(pixels_per_cell, side // cells_per_block))
    return np.stack(
        [
            hog(
                m,
                orientations=9,
                pixels_per_cell=(ppc, ppc),
                cells_per_block=(cells_per_block, cells_per_block),
                block_norm="L2-Hys",
                feature_vector=True,
            )
            for m in maps
        ]
    )


HOG_CELLS = (8, 2)
"""HOG geometry of ``hog_spearman``: pixels per cell, cells per block."""


def hog_spearman(
    a, b, *, pixels_per_cell: int = HOG_CELLS[0], cells_per_block: int = HOG_CELLS[1]
) -> np.ndarray:
    """Spearman rank correlation of HOG features (Dalal & Triggs 2005), per map.

    HOG (9 orientations, L2-Hys block normalisation) is computed on each map after
    per-map min-max normalisation, so it compares the maps' local edge structure.
    ``pixels_per_cell`` is shrunk for maps too small to hold one block of cells.
    """
    return Reference(a, ("hog_spearman",), hog_cells=(pixels_per_cell, cells_per_block)).compare(b)[0]


SIMILARITIES = {
    "spearman_abs": spearman_abs,
    "spearman": spearman,
    "ssim": ssim,
    "hog_spearman": hog_spearman,
}
"""Name -> similarity function, in the order of Adebayo et al. (2018), Fig. 2."""


def check_measures(measures) -> tuple[str, ...]:
    """``measures`` as a tuple of names in :data:`SIMILARITIES`; ValueError naming the choices."""
    measures = tuple(measures)
    unknown = [m for m in measures if m not in SIMILARITIES]
    if unknown or not measures:
        raise ValueError(
            f"unknown similarity measure(s) {unknown or '(none given)'}; "
            f"choose from {', '.join(SIMILARITIES)}"
        )
    return measures


class Reference:
    """One set of maps, prepared once, to be compared with many others.

    Every measure is computed here: the functions in :data:`SIMILARITIES` compare two
    sets through a one-off reference. The randomization test keeps one for the
    trained model's maps, whose ranks, normalised maps and HOG features are then
    computed once, so each comparison pays only for the other side.

    Args:
        maps: (N, H, W) reference maps, or one (H, W) map.
        measures: Names in :data:`SIMILARITIES`, in the order ``compare`` returns them.
        hog_cells: HOG pixels per cell and cells per block (``hog_spearman``).
    """

    def __init__(self, maps, measures=tuple(SIMILARITIES), *, hog_cells=HOG_CELLS):
        self.measures = check_measures(measures)
        self.maps, _ = _pair(maps, maps)
        self._hog_cells = tuple(hog_cells)
        self._flat = self.maps.reshape(len(self.maps), -1)
        self._abs = np.abs(self._flat)
        self._prepared = {}
        if "spearman_abs" in self.measures:
            self._prepared["spearman_abs"] = _ranked(self._abs)
        if "spearman" in self.measures:
            self._prepared["spearman"] = _ranked(self._flat)
        if "ssim" in self.measures or "hog_spearman" in self.measures:
            self._normalised = normalize_maps(self.maps)
        if "hog_spearman" in self.measures:
            self._hog = _hog_features(self._normalised, *self._hog_cells)
            self._prepared["hog_spearman"] = _ranked(self._hog)

    def compare(self, other) -> np.ndarray:
        """(len(measures), N) float64 similarity of the reference with ``other``, a map
        set of the reference's shape. Identical maps score exactly 1 on every measure."""
        other = np.asarray(other)
        _, b = _pair(
            self.maps, other[None] if other.ndim == 2 and self.maps.shape[1:] == other.shape else other
        )
        flat = b.reshape(len(b), -1)
        same = np.all(self._flat == flat, axis=1)
        out = []
        for m in self.measures:
            if m == "spearman_abs":
                absb = np.abs(flat)
                out.append(_correlate(self._prepared[m], _ranked(absb), np.all(self._abs == absb, axis=1)))
            elif m == "spearman":
                out.append(_correlate(self._prepared[m], _ranked(flat), same))
            elif m == "ssim":
                out.append(_ssim_normalised(self._normalised, normalize_maps(b), same))
            else:
                hog_b = _hog_features(normalize_maps(b), *self._hog_cells)
                scores = _correlate(self._prepared[m], _ranked(hog_b), np.all(self._hog == hog_b, axis=1))
                scores[same] = 1.0
                out.append(scores)
        return np.stack(out)
