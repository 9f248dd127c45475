"""Data randomization test (Adebayo et al. 2018, Sec. 5).

The same network is trained on the true labels and on randomly permuted labels. A
model trained on permuted labels can only memorise, so a method that explains the
model must give it different maps. The comparison is calibrated against the
natural variation between two true-label networks trained from different seeds: a
method passes when true-vs-permuted similarity is below true-vs-true similarity.

Uses :func:`saliency_core.data.synthetic_cnn.train_synthetic_cnn` (the synthetic
shapes CNN) for all three networks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..explainer import Explainer
from ..models.init import layer_seed
from .similarity import Reference, check_measures

__all__ = [
    "DataRandomizationResult",
    "RandomizationNetworks",
    "train_randomization_networks",
    "compare_networks",
    "data_randomization_test",
]


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
        return {
            m: (float(self.true_vs_permuted[j].mean()), float(self.true_vs_true[j].mean()))
            for j, m in enumerate(self.measures)
        }

    @property
    def passed(self) -> bool:
        """True when, for every measure, true-vs-permuted is less similar than true-vs-true."""
        return all(p < t for p, t in self.mean().values())


@dataclass
class RandomizationNetworks:
    """The three trained networks of the data randomization test.

    Attributes:
        models: Keras models by role: "true", "true_other" (true labels, another
            seed) and "permuted" (permuted labels).
        accuracy: Final training accuracy of each, a fraction in [0, 1].
        seeds: Training seeds by role and the label permutation seed ("permutation").
        epochs: Training epochs of each network.
    """

    models: dict
    accuracy: dict
    seeds: dict
    epochs: int


ROLES = ("true", "true_other", "permuted")


def train_randomization_networks(
    train_set, *, seed: int, epochs=8, train_options: dict | None = None
) -> RandomizationNetworks:
    """Train the true-label, second true-label and permuted-label synthetic CNNs.

    Args:
        train_set: A :class:`~saliency_core.data.synthetic.SyntheticSet` to train on.
        seed: Derives the three training seeds and the label-permutation seed
            (:func:`~saliency_core.checks.randomization.layer_seed`). Each network
            has its own initial weights: had the permuted-label network started
            from the true network's weights, its maps could resemble the true
            network's through the shared initialisation rather than the labels, and
            both comparisons would not be on the same footing.
        epochs: Training epochs of each network.
        train_options: Extra keyword arguments of ``train_synthetic_cnn``.
    """
    from ..data.synthetic import permuted_labels
    from ..data.synthetic_cnn import train_synthetic_cnn

    seeds = {
        "true": layer_seed(seed, "data-randomization/true"),
        "true_other": layer_seed(seed, "data-randomization/true-other"),
        "permuted": layer_seed(seed, "data-randomization/permuted"),
        "permutation": layer_seed(seed, "data-randomization/permutation"),
    }
    shuffled = dataclasses.replace(train_set, labels=permuted_labels(train_set.labels, seeds["permutation"]))
    data = {"true": train_set, "true_other": train_set, "permuted": shuffled}
    models, accuracy = {}, {}
    for role in ROLES:
        models[role], history = train_synthetic_cnn(
            data[role], seed=seeds[role], epochs=epochs, **(train_options or {})
        )
        accuracy[role] = float(history["accuracy"][-1])
    return RandomizationNetworks(models=models, accuracy=accuracy, seeds=seeds, epochs=int(epochs))


def compare_networks(
    networks: RandomizationNetworks,
    test_images,
    *,
    seed: int,
    targets=None,
    method,
    variant="xla",
    reduce="sum",
    measures=("spearman_abs", "ssim"),
    batch_size=16,
    precision="float32",
) -> DataRandomizationResult:
    """Maps of the three networks on ``test_images``, compared with the true network's.

    Args:
        networks: From :func:`train_randomization_networks`.
        test_images: (N, H, W, 3) images, or a ``SyntheticSet`` (its labels are then
            the default targets).
        seed: The method's own seed (SmoothGrad noise, the random control).
        targets: Class ids (N,) to explain with every network; None means the test
            set's labels, or the true network's top-1 for a bare image array.
        method: Saliency method or control.
        variant: Gradient variant.
        reduce: Channel reduction of the maps.
        measures: Names in :data:`~saliency_core.checks.similarity.SIMILARITIES`.
        batch_size: Images per compiled saliency call.
        precision: The networks' precision ("float32", "bfloat16", "float16").
    """
    measures = check_measures(measures)
    images = getattr(test_images, "images", test_images)
    if targets is None and hasattr(test_images, "labels"):
        targets = np.asarray(test_images.labels)
    maps = {}
    for role in ROLES:
        explainer = Explainer(
            networks.models[role], variant=variant, batch_size=batch_size, precision=precision
        )
        result = explainer.explain(images, targets=targets, method=method, reduce=reduce, seed=seed)
        if targets is None:
            targets = result.targets  # the true network's top-1, for all three
        maps[role] = result.maps

    reference = Reference(maps["true"], measures)

    return DataRandomizationResult(
        measures=measures,
        true_vs_permuted=reference.compare(maps["permuted"]),
        true_vs_true=reference.compare(maps["true_other"]),
        targets=np.asarray(targets, dtype=np.int32),
        accuracy=dict(networks.accuracy),
        seeds=dict(networks.seeds),
        maps=np.stack([maps[k] for k in ROLES]).astype(np.float32),
    )


def data_randomization_test(
    train_set,
    test_images,
    *,
    seed: int,
    targets=None,
    epochs=8,
    method,
    variant="xla",
    reduce="sum",
    measures=("spearman_abs", "ssim"),
    batch_size=16,
    train_options: dict | None = None,
) -> DataRandomizationResult:
    """Train three synthetic CNNs and compare their maps on ``test_images``:
    :func:`train_randomization_networks` then :func:`compare_networks`, with the
    arguments documented there."""
    networks = train_randomization_networks(train_set, seed=seed, epochs=epochs, train_options=train_options)
    return compare_networks(
        networks,
        test_images,
        seed=seed,
        targets=targets,
        method=method,
        variant=variant,
        reduce=reduce,
        measures=measures,
        batch_size=batch_size,
    )
