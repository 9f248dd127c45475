"""Data randomization test (Adebayo et al. 2018, Sec. 5).

The same network is trained on the true labels and on randomly permuted labels. A
model trained on permuted labels can only memorise, so a method that explains the
model must give it different maps. The comparison is calibrated against the
natural variation between two true-label networks trained from different seeds: a
method passes when true-vs-permuted similarity is below true-vs-true similarity.

Uses :func:`saliency_core.data.synthetic.train_synthetic_cnn` (the synthetic
shapes CNN) for all three networks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..explainer import Explainer
from ..methods import MethodOptions
from .randomization import layer_seed
from .similarity import SIMILARITIES

__all__ = ["DataRandomizationResult", "data_randomization_test"]


@dataclass
class DataRandomizationResult:
    """Similarities between the maps of three networks on the same test images.

    Attributes:
        measures: Similarity measure names.
        true_vs_permuted: (measures, N): true-label network vs permuted-label network.
        true_vs_true: (measures, N): true-label network vs a second true-label
            network trained from another seed (the reference level).
        targets: (N,) class ids explained by every network.
        accuracy: Final training accuracy of each network ("true", "true_other",
            "permuted"), a fraction in [0, 1].
        seeds: Training seeds ("true", "true_other", "permuted") and the label
            permutation seed ("permutation").
        maps: (3, N, H, W) float32 maps: true, true_other, permuted.
    """

    measures: tuple[str, ...]
    true_vs_permuted: np.ndarray
    true_vs_true: np.ndarray
    targets: np.ndarray
    accuracy: dict = field(default_factory=dict)
    seeds: dict = field(default_factory=dict)
    maps: np.ndarray | None = None

    def mean(self) -> dict[str, tuple[float, float]]:
        """measure -> (mean true-vs-permuted, mean true-vs-true)."""
        return {m: (float(self.true_vs_permuted[j].mean()), float(self.true_vs_true[j].mean()))
                for j, m in enumerate(self.measures)}

    @property
    def passed(self) -> bool:
        """True when, for every measure, true-vs-permuted is less similar than true-vs-true."""
        return all(p < t for p, t in self.mean().values())


def data_randomization_test(train_set, test_images, *, seed: int, targets=None, epochs=8,
                            method="gradient", variant="xla", reduce="sum",
                            measures=("spearman_abs", "ssim"), batch_size=16,
                            train_options: dict | None = None) -> DataRandomizationResult:
    """Train three synthetic CNNs and compare their maps on ``test_images``.

    Args:
        train_set: A :class:`~saliency_core.data.synthetic.SyntheticSet` to train on.
        test_images: (N, H, W, 3) images, or a ``SyntheticSet`` (its labels are then
            the default targets).
        seed: Derives the three training seeds and the label-permutation seed
            (:func:`~saliency_core.checks.randomization.layer_seed`). Each network
            has its own initial weights: had the permuted-label network started
            from the true network's weights, its maps could resemble the true
            network's through the shared initialisation rather than the labels, and
            both comparisons would not be on the same footing.
        targets: Class ids (N,) to explain with every network; None means the test
            set's labels, or the true network's top-1 for a bare image array.
        epochs: Training epochs of each network.
        method: Saliency method or control.
        variant: Gradient variant.
        reduce: Channel reduction of the maps.
        measures: Names in :data:`~saliency_core.checks.similarity.SIMILARITIES`.
        batch_size: Images per compiled saliency call.
        train_options: Extra keyword arguments of ``train_synthetic_cnn``.
    """
    from ..data.synthetic import permuted_labels, train_synthetic_cnn

    measures = tuple(measures)
    if not measures or any(m not in SIMILARITIES for m in measures):
        raise ValueError(f"unknown similarity measure in {measures}; choose from {', '.join(SIMILARITIES)}")
    images = getattr(test_images, "images", test_images)
    if targets is None and hasattr(test_images, "labels"):
        targets = np.asarray(test_images.labels)
    seeds = {"true": layer_seed(seed, "data-randomization/true"),
             "true_other": layer_seed(seed, "data-randomization/true-other"),
             "permuted": layer_seed(seed, "data-randomization/permuted"),
             "permutation": layer_seed(seed, "data-randomization/permutation")}
    shuffled = dataclasses.replace(train_set, labels=permuted_labels(train_set.labels, seeds["permutation"]))
    runs = {"true": (train_set, seeds["true"]), "true_other": (train_set, seeds["true_other"]),
            "permuted": (shuffled, seeds["permuted"])}
    options = MethodOptions(seed=int(seed))
    maps, accuracy = {}, {}
    for name, (data, train_seed) in runs.items():
        model, history = train_synthetic_cnn(data, seed=train_seed, epochs=epochs, **(train_options or {}))
        accuracy[name] = float(history["accuracy"][-1])
        explainer = Explainer(model, variant=variant, batch_size=batch_size)
        result = explainer.explain(images, targets=targets, method=method, reduce=reduce, options=options)
        if targets is None:
            targets = result.targets  # the true network's top-1, for all three
        maps[name] = result.maps

    def compare(other):
        return np.stack([SIMILARITIES[m](maps["true"], maps[other]) for m in measures])

    return DataRandomizationResult(
        measures=measures, true_vs_permuted=compare("permuted"), true_vs_true=compare("true_other"),
        targets=np.asarray(targets, dtype=np.int32), accuracy=accuracy, seeds=seeds,
        maps=np.stack([maps[k] for k in runs]).astype(np.float32))
