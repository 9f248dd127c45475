"""Saliency methods and model-independent controls, one file each, found by registry.

Public API::

    from saliency_core.methods import METHODS, Method, MethodContext, register_method
    METHODS.names()                  # every registered method, built-in and plug-in
    get_method("smoothgrad").options # its options dataclass

A new method is one module in this package (or a plug-in) with a class decorated by
:func:`register_method`; see :mod:`saliency_core.methods.base`.
"""

from .base import (
    METHODS,
    Method,
    MethodContext,
    MethodKind,
    NoOptions,
    flagged_method,
    get_method,
    image_seeds,
    method_names,
    options_record,
    parse_method_options,
    register_method,
    resolve_options,
)

__all__ = [
    "METHODS",
    "Method",
    "MethodContext",
    "MethodKind",
    "NoOptions",
    "flagged_method",
    "get_method",
    "image_seeds",
    "method_names",
    "options_record",
    "parse_method_options",
    "register_method",
    "resolve_options",
]
