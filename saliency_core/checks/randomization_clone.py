"""The model that the randomization tests randomize: a clone of the trained one.

The trained model is never modified. :class:`RandomizationClone` holds a clone
(``keras.models.clone_model`` + the trained weights) and the :class:`Explainer` built on
it; :func:`~saliency_core.checks.randomization.mprt` assigns randomized values to the
clone's variables step by step and :meth:`RandomizationClone.reset` puts the trained
values back, so one clone (and one traced gradient function per image shape) serves
every run of a check, chunk after chunk.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..explainer import Explainer
from ..models.classifier import Classifier, as_classifier
from .randomization_blocks import keras_model

__all__ = ["RandomizationClone"]


def _clone(classifier):
    """(the trained Keras model, the clone as a Classifier, the clone's Keras model)."""
    import keras

    source = keras_model(classifier)
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


class RandomizationClone:
    """A trained classifier's clone and the :class:`Explainer` built on it, for
    :func:`mprt` runs that share them (one per check, reused by every chunk).

    Args:
        classifier: A :class:`Classifier` or Keras model; never modified.
        variant, score, batch_size, device, precision: The Explainer's.
    """

    def __init__(
        self,
        classifier,
        *,
        variant="xla",
        score="logit",
        batch_size=16,
        device=None,
        precision="float32",
    ):
        self.classifier = classifier
        self.source, self.clone_classifier, self.model = _clone(classifier)
        self.settings = dict(
            variant=variant, score=score, batch_size=batch_size, device=device, precision=precision
        )
        self.explainer = Explainer(self.clone_classifier, **self.settings)
        self._trained = [np.array(v.numpy(), copy=True) for v in self.model.weights]

    def reset(self) -> None:
        """Assign the trained values to every variable of the clone."""
        for v, value in zip(self.model.weights, self._trained):
            v.assign(value)

    def check_fits(self, classifier, **settings) -> None:
        """``ValueError`` unless this clone is of ``classifier`` with these Explainer settings."""
        if keras_model(classifier) is not self.source:
            raise ValueError("this RandomizationClone was made from another model")
        differ = {k: (v, self.settings[k]) for k, v in settings.items() if self.settings[k] != v}
        if differ:
            raise ValueError(
                "this RandomizationClone was made with other settings: "
                + ", ".join(f"{k}={new!r} (clone: {old!r})" for k, (new, old) in differ.items())
            )
