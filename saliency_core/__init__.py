"""saliency-bench core: gradient saliency maps in eager, tf.function and XLA variants.

Public API::

    from saliency_core import saliency, Explainer, load_model
    clf = load_model("efficientnet-lite0")          # real, offline, pretrained
    maps = saliency(clf, clf.prepare(photos), variant="xla")

Importing this package does not import TensorFlow or configure devices.
"""

from .agreement import Agreement, variant_agreement
from .explainer import Explainer, SaliencyResult, saliency
from .gradients import (
    PRECISIONS,
    SCORES,
    VARIANTS,
    GradientFunction,
    Precision,
    Score,
    Variant,
    build_forward_fn,
    build_gradient_fn,
)
from .methods import METHODS, Method, MethodContext, register_method
from .models.classifier import Classifier, as_classifier
from .models.preprocessing import Preprocessing, get_preprocessing
from .noise_floor import NoiseFloor, measure_noise_floor
from .reduce import REDUCTIONS, Reduction, normalize_maps, reduce_channels

__version__ = "0.1.0"

__all__ = [
    "Agreement",
    "Classifier",
    "Explainer",
    "GradientFunction",
    "METHODS",
    "Method",
    "MethodContext",
    "NoiseFloor",
    "PRECISIONS",
    "Precision",
    "Preprocessing",
    "REDUCTIONS",
    "Reduction",
    "SCORES",
    "SaliencyResult",
    "Score",
    "VARIANTS",
    "Variant",
    "as_classifier",
    "build_forward_fn",
    "build_gradient_fn",
    "get_preprocessing",
    "measure_noise_floor",
    "normalize_maps",
    "reduce_channels",
    "register_method",
    "saliency",
    "variant_agreement",
    "__version__",
]
