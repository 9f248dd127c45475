"""saliency-bench core: gradient saliency maps in eager, tf.function and XLA variants.

Public API::

    from saliency_core import saliency, Explainer, load_model
    clf = load_model("efficientnet-lite0")          # real, offline, pretrained
    maps = saliency(clf, clf.prepare(photos), variant="xla")

Importing this package does not import TensorFlow or configure devices.
"""

from .agreement import Agreement, variant_agreement
from .controls import edge_map, random_map
from .explainer import Explainer, SaliencyResult, saliency
from .gradients import SCORES, VARIANTS, GradientFunction, build_forward_fn, build_gradient_fn
from .methods import METHODS, MethodOptions
from .models.classifier import Classifier, as_classifier
from .models.preprocessing import Preprocessing, get_preprocessing
from .reduce import REDUCTIONS, normalize_maps, reduce_channels

__version__ = "0.1.0"

__all__ = [
    "Agreement", "Classifier", "Explainer", "GradientFunction", "METHODS", "MethodOptions", "Preprocessing",
    "REDUCTIONS", "SCORES", "SaliencyResult", "VARIANTS", "as_classifier", "build_forward_fn",
    "build_gradient_fn", "edge_map", "get_preprocessing", "normalize_maps", "random_map",
    "reduce_channels", "saliency", "variant_agreement", "__version__",
]
