"""The method interface: one signature for attribution methods and controls alike.

A method is a class in a file of its own under ``saliency_core/methods/`` (or in a
plug-in) that declares its metadata and options and implements :meth:`Method.attribute`::

    @dataclass(frozen=True)
    class BlurOptions:
        sigma: float = 2.0             # pixels

    @register_method
    class BlurGradient(Method):
        name = "blur-gradient"
        kind = "attribution"
        options = BlurOptions
        summary = "gradient of a blurred image"
        reference = "..."

        def attribute(self, ctx, opts):
            return ctx.grad(gaussian_filter(ctx.images, ...), ctx.targets)

``attribute`` returns per-channel attributions ``(N, H, W, C)`` (the caller reduces
them over channels) or finished maps ``(N, H, W)``. Gradient methods get their
gradients from ``ctx.grad``, so every method reuses the one compiled core. Options
are a frozen dataclass with a default for every field; they are set from Python,
from ``--method-option NAME.FIELD=VALUE`` and from a suite's
``[checks.method_options.NAME]``, and recorded with every result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal, Mapping

import numpy as np

from ..seeds import image_seeds
from ..unit_registry import Registry

__all__ = [
    "Method",
    "MethodContext",
    "MethodKind",
    "NoOptions",
    "METHODS",
    "register_method",
    "get_method",
    "method_names",
    "flagged_method",
    "resolve_options",
    "resolve_fields",
    "parse_method_options",
    "options_record",
    "image_seeds",
]

MethodKind = Literal["attribution", "control"]
""""attribution": computed from the model (its input gradients); "control": model-independent (a map
that a model-dependence check must fail)."""

GradFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class NoOptions:
    """Options of a method that has none."""


@dataclass
class MethodContext:
    """What a method may use to compute its attributions.

    Attributes:
        images: (N, H, W, C) in the classifier's input space.
        targets: (N,) int class ids the maps explain (already resolved: never -1).
        grad: ``grad(x (M, H, W, C), targets (M,)) -> (M, H, W, C)`` input gradients of
            the class scores, batched through the compiled function in chunks of
            ``batch_size``. Call it with at most ``batch_size`` images (or any number:
            it chunks) to keep memory bounded.
        clean: (N, H, W, C) gradients at ``images`` (from the pass that resolved the
            targets), or None for a control.
        seed: The run seed.
        batch_size: Images per compiled call.
        sequence: True when ``images`` are consecutive frames of one video.
    """

    images: np.ndarray
    targets: np.ndarray
    grad: GradFn
    clean: np.ndarray | None
    seed: int
    batch_size: int
    sequence: bool = False

    @property
    def image_seeds(self) -> np.ndarray:
        """(N,) uint64 per-image seeds from the run seed and each image's content."""
        return image_seeds(self.seed, self.images)


class Method:
    """Base class of every saliency method and control (see the module docstring).

    Class attributes (declared by each method):
        name: Registry name ("smoothgrad").
        kind: "attribution" or "control".
        options: Frozen dataclass of the method's options (defaults for every field).
        summary: One line for ``list methods``.
        reference: Paper (and code) the method follows.
        needs_sequence: True when ``attribute`` needs consecutive video frames.
        default_check: In ``check``'s default method list.
        chance_baseline: The random ordering that the checks' margin columns compare
            against (one method has it).
        primary: The method explained and gated when none is named (one method has it).
        motion_reference: The motion control that the video metrics compare maps
            against (at most one method has it; see :func:`flagged_method`).
    """

    name: ClassVar[str]
    kind: ClassVar[MethodKind]
    options: ClassVar[type] = NoOptions
    summary: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    needs_sequence: ClassVar[bool] = False
    default_check: ClassVar[bool] = False
    chance_baseline: ClassVar[bool] = False
    primary: ClassVar[bool] = False
    motion_reference: ClassVar[bool] = False

    def attribute(self, ctx: MethodContext, opts: Any) -> np.ndarray:
        raise NotImplementedError

    @property
    def model_independent(self) -> bool:
        return self.kind == "control"

    def describe(self) -> dict:
        """Metadata and default options, for ``list methods`` and the store."""
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "reference": self.reference,
            "needs_sequence": self.needs_sequence,
            "motion_reference": self.motion_reference,
            "options": options_record(self.options()),
        }


METHODS: Registry[Method] = Registry("method", "saliency_core.methods", "saliency_bench.methods")


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: check the declaration and add one instance to :data:`METHODS`."""
    for attr in ("name", "kind"):
        if not isinstance(getattr(cls, attr, None), str):
            raise TypeError(f"method class {cls.__name__} must declare {attr!r}")
    if cls.kind not in ("attribution", "control"):
        raise ValueError(f"method {cls.name!r}: kind must be 'attribution' or 'control', got {cls.kind!r}")
    if not dataclasses.is_dataclass(cls.options):
        raise TypeError(f"method {cls.name!r}: options must be a dataclass")
    try:
        cls.options()
    except TypeError as exc:
        raise TypeError(f"method {cls.name!r}: every option needs a default ({exc})") from None
    METHODS.add(cls.name, cls())
    return cls


def get_method(name: str) -> Method:
    """The registered method ``name``; ValueError naming the choices."""
    return METHODS.get(name)


def method_names(kind: MethodKind | None = None) -> list[str]:
    """Registered method names (of one kind), in registration order."""
    return [m.name for m in METHODS if kind is None or m.kind == kind]


def flagged_method(role: str) -> str:
    """The one registered method that declares the boolean class attribute ``role``
    (``"motion_reference"``, ...); a metric finds a method by its declared role, never
    by its name. RuntimeError when none or several declare it, naming them.
    """
    if not isinstance(getattr(Method, role, None), bool):
        raise ValueError(f"{role!r} is not a boolean attribute of Method")
    found = [m.name for m in METHODS if getattr(m, role)]
    if len(found) != 1:
        raise RuntimeError(
            f"exactly one registered method must declare {role} = True, found {found or 'none'}"
        )
    return found[0]


def resolve_options(method: Method, options: Any = None) -> Any:
    """``method``'s options from None (defaults), an instance, or a mapping of overrides.

    Raises ValueError naming the method and an unknown or mistyped option.
    """
    return resolve_fields(
        method.options, options, owner=f"method {method.name!r}", prefix=method.name, noun="option"
    )


def resolve_fields(cls: type, values: Any, *, owner: str, prefix: str, noun: str) -> Any:
    """An instance of the frozen dataclass ``cls`` from None (defaults), an instance, or
    a mapping of overrides (strings are converted to each field's type).

    ``owner`` ("method 'smoothgrad'", "metric 'smprt'"), ``prefix`` and ``noun``
    ("option", "setting") name the field in errors: ValueError for an unknown or
    mistyped field, TypeError for anything but a mapping or an instance.
    """
    if values is None:
        return cls()
    if isinstance(values, cls):
        return values
    if not isinstance(values, Mapping):
        raise TypeError(
            f"{noun}s of {owner} must be a {cls.__name__} or a mapping, got {type(values).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(
                f"{owner} has no {noun} {key!r}"
                + (f" ({noun}s: {', '.join(fields)})" if fields else " (it takes none)")
            )
        out[key] = _coerce(f"{noun} {prefix}.{key}", value, fields[key].default)
    return cls(**out)


def _coerce(what: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        try:
            if kind is bool:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if default is not None and not isinstance(value, kind):
        raise ValueError(f"{what} must be a {kind.__name__}, got {value!r}")
    return value


def parse_method_options(specs: list[str] | None) -> dict[str, dict[str, str]]:
    """``["smoothgrad.samples=50", ...]`` -> ``{"smoothgrad": {"samples": "50"}}``.

    Raises ValueError naming a malformed spec or an unknown method; option names and
    values are checked by :func:`resolve_options`.
    """
    out: dict[str, dict[str, str]] = {}
    for spec in specs or []:
        left, eq, value = spec.partition("=")
        method, dot, key = left.strip().partition(".")
        if not eq or not dot or not method or not key:
            raise ValueError(f"--method-option {spec!r}: expected METHOD.OPTION=VALUE")
        name = METHODS.canonical(method)
        out.setdefault(name, {})[key.strip()] = value.strip()
    for name, values in out.items():
        resolve_options(get_method(name), values)
    return out


def options_record(opts: Any) -> dict:
    """A method's options as a JSON-ready dict."""
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in dataclasses.asdict(opts).items()}
