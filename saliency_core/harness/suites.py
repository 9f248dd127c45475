"""Timing suites: TOML files naming a grid of cells and how long to time each.

A suite file (packaged ones live in ``saliency_core/suites/``, also reachable as
``bench/suites/``)::

    name = "quick"
    description = "..."
    models = ["resnet50", "mobilenetv2", "efficientnet-lite0"]
    variants = ["eager", "function", "xla"]
    precisions = ["float32", "bfloat16"]  # optional (default ["float32"]); low ones are
                                          # mixed and record their fidelity to float32
    batch_sizes = [1, 8]
    devices = ["cpu"]             # "cpu", "gpu", "gpu:N"
    image_size = 224              # optional: omit for each model's own input size
    weights = "random"            # backbones: "random" (timing only), "imagenet" or a file
    seed = 0                      # seeds the random input images
    fresh_process = false         # run each cell in its own Python process

    [timing]                      # see TimingConfig
    min_repeats = 3
    max_repeats = 20
    budget_s = 1.0
    warmup = 1

    [chunking]                    # split batches above the fastest measured chunk size
    candidates = [4, 8, 16]       # [] (or no table): never split

    [checks]                      # optional: after timing, ``saliency-bench run`` also
    model = "efficientnet-lite0"  # records example maps, runs sanity checks and the
    images = 7                    # gate; keys and defaults: CHECKS_DEFAULTS

    [agreement]                   # optional: after timing, compare each model's variants
    images = 2                    # with eager (variant_agreement); AGREEMENT_DEFAULTS

Every key is checked when the suite is read, before anything runs; an error names
the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks.settings import DEFAULT_BATCH_SIZE, DEFAULT_CURVE_STEPS, DEFAULT_PRECISION, DEFAULT_VARIANT
from ..devices import normalize_device
from ..models.weights import RANDOM_WEIGHTS
from ..toml_files import read_toml
from .timing import TimingConfig


__all__ = [
    "Suite",
    "SuiteError",
    "load_suite",
    "parse_suite",
    "list_suites",
    "suites_dir",
    "AGREEMENT_DEFAULTS",
    "CHECKS_DEFAULTS",
    "agreement_settings",
    "checks_settings",
]

#: Keys of a suite's ``[checks]`` table and their defaults. ``None`` for methods,
#: metrics, map_methods and gate_method means the registries' defaults (see
#: :func:`checks_settings`); the numbers come from :mod:`saliency_core.checks.settings`.
CHECKS_DEFAULTS: dict[str, Any] = {
    "model": "efficientnet-lite0",  # the pretrained model that installs offline
    "data": "photos",  # photos, synthetic or an image folder
    "images": 7,
    "methods": None,
    "metrics": None,
    "map_methods": None,
    "method_options": {},  # {method: {option: value}}
    "metric_settings": {},  # {metric: {setting: value}}
    "policy": "default",
    "gate_method": None,
    "curve_steps": DEFAULT_CURVE_STEPS,
    "variant": DEFAULT_VARIANT,
    "precision": DEFAULT_PRECISION,
    "batch_size": DEFAULT_BATCH_SIZE,
}
_CHECKS_SCHEMA = {
    "model": str,
    "data": str,
    "images": int,
    "methods": list,
    "metrics": list,
    "map_methods": list,
    "method_options": dict,
    "metric_settings": dict,
    "policy": str,
    "gate_method": str,
    "curve_steps": int,
    "variant": str,
    "precision": str,
    "batch_size": int,
}


#: Keys of a suite's ``[agreement]`` table and their defaults.
AGREEMENT_DEFAULTS = {
    "images": 2,  # the first bundled photos
    "variants": ["function", "xla"],  # each compared with eager
    "kink_tol": 1e-4,  # units this close to a kink are pinned
}


class SuiteError(ValueError):
    """A suite file is missing, not TOML, or has a bad key or value (named in the message)."""


def suites_dir() -> Path:
    """The directory of the suites packaged with the library."""
    return Path(__file__).resolve().parent.parent / "suites"


def list_suites() -> list[str]:
    """Names of the packaged suites."""
    return sorted(p.stem for p in suites_dir().glob("*.toml"))


@dataclass(frozen=True)
class Suite:
    """A grid of timing cells (models x devices x variants x precisions x batch sizes).

    Attributes:
        name: Suite name, recorded as the run's suite.
        models: Registry names, "efficientnet-lite0", or model file paths.
        variants: Gradient variants ("eager", "function", "xla").
        precisions: "float32", "bfloat16", "float16" (mixed: the network computes in
            it); a cell of a low precision records its maps' fidelity to float32.
        batch_sizes: Images per timed call.
        devices: Normalised device names ("cpu", "gpu:0", ...).
        image_size: Square input size to build backbones at, or None for each
            model's own size.
        weights: Backbone weights: "random", "imagenet" or a weights file.
        seed: Seed of the random input images.
        timing: Repeats, budget and warm-up of each cell.
        chunk_candidates: Chunk sizes measured to split large batches; () never splits.
        fresh_process: Run each cell in a new Python process.
        description: One line for listings.
        source: The file the suite was read from (None if built in code).
        checks: The ``[checks]`` table as written (None: timing only); see
            :func:`checks_settings` for it with defaults filled in.
        agreement: The ``[agreement]`` table as written (None: no comparison); see
            :func:`agreement_settings`.
    """

    name: str
    models: tuple[str, ...]
    variants: tuple[str, ...] = ("eager", "function", "xla")
    batch_sizes: tuple[int, ...] = (8,)
    devices: tuple[str, ...] = ("cpu",)
    image_size: int | None = None
    weights: str = RANDOM_WEIGHTS
    seed: int = 0
    timing: TimingConfig = field(default_factory=TimingConfig)
    chunk_candidates: tuple[int, ...] = ()
    fresh_process: bool = False
    description: str = ""
    source: str | None = None
    checks: dict | None = None
    agreement: dict | None = None
    precisions: tuple[str, ...] = ("float32",)

    def to_dict(self) -> dict:
        """JSON-ready form, stored in the run's config (``from_dict`` reads it back)."""
        return {
            "name": self.name,
            "models": list(self.models),
            "variants": list(self.variants),
            "precisions": list(self.precisions),
            "batch_sizes": list(self.batch_sizes),
            "devices": list(self.devices),
            "image_size": self.image_size,
            "weights": self.weights,
            "seed": self.seed,
            "timing": self.timing.to_dict(),
            "chunking": {"candidates": list(self.chunk_candidates)},
            "fresh_process": self.fresh_process,
            "description": self.description,
            "source": self.source,
            "checks": self.checks,
            "agreement": self.agreement,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str = "<run config>") -> "Suite":
        data = {k: v for k, v in data.items() if v is not None}
        src = data.pop("source", None)
        suite = parse_suite(data, source=source, check_models=False)
        return Suite(**{**suite.__dict__, "source": src})


_TOP = {
    "name": str,
    "description": str,
    "models": list,
    "variants": list,
    "precisions": list,
    "batch_sizes": list,
    "devices": list,
    "image_size": int,
    "weights": str,
    "seed": int,
    "fresh_process": bool,
    "timing": dict,
    "chunking": dict,
    "checks": dict,
    "agreement": dict,
}
_REQUIRED = ("models", "variants", "batch_sizes")
_TIMING = {"min_repeats": int, "max_repeats": int, "budget_s": (int, float), "warmup": int}
_CHUNKING = {"candidates": list}


def _type_name(t) -> str:
    names = {
        str: "a string",
        int: "an integer",
        list: "an array",
        bool: "true or false",
        dict: "a table",
        float: "a number",
    }
    return " or ".join(names[x] for x in t) if isinstance(t, tuple) else names[t]


def _is(value: Any, t) -> bool:
    types = t if isinstance(t, tuple) else (t,)
    if isinstance(value, bool) and bool not in types:
        return False  # TOML true is not an integer here
    return isinstance(value, types)


def _fail(source: str, key: str, message: str) -> SuiteError:
    return SuiteError(f"{source}: key {key!r}: {message}")


def _check_table(data: dict, schema: dict, source: str, prefix: str = "") -> None:
    for key, value in data.items():
        name = prefix + key
        if key not in schema:
            raise SuiteError(
                f"{source}: unknown key {name!r} (allowed: {', '.join(prefix + k for k in schema)})"
            )
        if not _is(value, schema[key]):
            raise _fail(
                source, name, f"must be {_type_name(schema[key])}, got {type(value).__name__} {value!r}"
            )


def _list_of(
    data: dict, key: str, t, source: str, *, positive=False, allowed=None, prefix: str = ""
) -> tuple:
    values = data[key]
    name = prefix + key
    if not values:
        raise _fail(source, name, "must not be empty")
    for i, v in enumerate(values):
        if not _is(v, t):
            raise _fail(source, f"{name}[{i}]", f"must be {_type_name(t)}, got {v!r}")
        if positive and v < 1:
            raise _fail(source, f"{name}[{i}]", f"must be >= 1, got {v!r}")
        if allowed is not None and v not in allowed:
            raise _fail(source, f"{name}[{i}]", f"unknown value {v!r}; choose from {', '.join(allowed)}")
    return tuple(values)


def _check_checks(table: dict, source: str) -> None:
    """Validate a ``[checks]`` table: known keys, types and values."""
    from ..gradients import PRECISIONS, VARIANTS
    from ..methods.base import METHODS, get_method, resolve_options

    _check_table(table, _CHECKS_SCHEMA, source, prefix="checks.")
    methods = tuple(METHODS.names())
    for key in ("methods", "map_methods"):
        if key in table:
            _list_of(table, key, str, source, allowed=methods, prefix="checks.")
    if "metrics" in table:
        from ..metrics.base import METRICS

        allowed = (*METRICS.names(), *METRICS.aliases())
        _list_of(table, "metrics", str, source, allowed=allowed, prefix="checks.")
        _check_metric_needs(table, source)
    for name, values in table.get("method_options", {}).items():
        try:
            resolve_options(get_method(name), values)
        except (ValueError, TypeError) as exc:
            raise _fail(source, f"checks.method_options.{name}", str(exc)) from None
    for name, values in table.get("metric_settings", {}).items():
        from ..metrics.base import get_metric, resolve_settings

        try:
            resolve_settings(get_metric(name), values)
        except (ValueError, TypeError) as exc:
            raise _fail(source, f"checks.metric_settings.{name}", str(exc)) from None
    if "gate_method" in table and table["gate_method"] not in methods:
        raise _fail(
            source,
            "checks.gate_method",
            f"unknown method {table['gate_method']!r}; choose from {', '.join(methods)}",
        )
    if table.get("precision", DEFAULT_PRECISION) not in PRECISIONS:
        raise _fail(
            source,
            "checks.precision",
            f"unknown precision {table['precision']!r}; choose from {', '.join(PRECISIONS)}",
        )
    if table.get("variant", DEFAULT_VARIANT) not in VARIANTS:
        raise _fail(
            source,
            "checks.variant",
            f"unknown variant {table['variant']!r}; choose from {', '.join(VARIANTS)}",
        )
    for key in ("images", "curve_steps", "batch_size"):
        if key in table and table[key] < 1:
            raise _fail(source, f"checks.{key}", f"must be >= 1, got {table[key]}")
    if "policy" in table:
        from ..checks.policy import PolicyError, load_policy

        try:
            load_policy(table["policy"])
        except PolicyError as exc:
            raise _fail(source, "checks.policy", str(exc)) from None


def _check_agreement(table: dict, source: str) -> None:
    """Validate an ``[agreement]`` table: known keys, types and values."""
    schema = {"images": int, "variants": list, "kink_tol": (int, float)}
    _check_table(table, schema, source, prefix="agreement.")
    if "variants" in table:
        _list_of(table, "variants", str, source, allowed=("function", "xla"), prefix="agreement.")
    if table.get("images", 1) < 1:
        raise _fail(source, "agreement.images", f"must be >= 1, got {table['images']}")
    if not table.get("kink_tol", 1.0) > 0:
        raise _fail(source, "agreement.kink_tol", f"must be > 0, got {table['kink_tol']}")


def agreement_settings(suite: "Suite | dict") -> dict | None:
    """A suite's ``[agreement]`` settings with defaults filled in, or None when it has none."""
    table = suite.agreement if isinstance(suite, Suite) else (suite or {}).get("agreement")
    return None if table is None else {**AGREEMENT_DEFAULTS, **table}


def _check_metric_needs(table: dict, source: str) -> None:
    """Metrics a suite's checks cannot compute: those that need object masks without
    synthetic data, trained networks (they retrain; ``saliency-bench check``), or frames."""
    from ..metrics.base import METRICS

    data = table.get("data", CHECKS_DEFAULTS["data"])
    for i, name in enumerate(table["metrics"]):
        needs = METRICS.get(name).needs
        if "networks" in needs:
            raise _fail(
                source,
                f"checks.metrics[{i}]",
                f"{name} retrains the network and does not run in a suite; use "
                f"'saliency-bench check --model synthetic-cnn --data synthetic "
                f"--metrics {name}'",
            )
        if "masks" in needs and data != "synthetic":
            raise _fail(
                source,
                f"checks.metrics[{i}]",
                f'{name} needs ground-truth object masks: data = "synthetic" (data is {data!r})',
            )


def checks_settings(suite: "Suite | dict | None") -> dict | None:
    """A suite's ``[checks]`` settings with defaults filled in, or None when it has none.

    Takes a :class:`Suite` or its stored form (``Suite.to_dict()``, as in a run config).
    """
    from ..checks.settings import default_check_methods, primary_method
    from ..metrics.base import default_metrics

    table = suite.checks if isinstance(suite, Suite) else (suite or {}).get("checks")
    if table is None:
        return None
    out = {**CHECKS_DEFAULTS, **table}
    if out["methods"] is None:
        out["methods"] = default_check_methods()
    if out["metrics"] is None:
        out["metrics"] = default_metrics(has_masks=out["data"] == "synthetic")
    if out["gate_method"] is None:
        out["gate_method"] = primary_method()
    if out["map_methods"] is None:
        out["map_methods"] = default_check_methods(chance_baseline=False)
    return out


def _check_model(name: str, source: str, index: int) -> None:
    from ..models.registry import BACKBONES, LITE0

    if name.lower() in BACKBONES or name.lower() == LITE0 or Path(name).expanduser().exists():
        return
    raise _fail(
        source,
        f"models[{index}]",
        f"unknown model {name!r}: not a registry name ({', '.join([LITE0, *BACKBONES])}) and no such file",
    )


def parse_suite(data: dict, *, source: str = "<suite>", check_models: bool = True) -> Suite:
    """Validate a suite's parsed TOML (a dict) and build the :class:`Suite`.

    Args:
        data: The parsed document.
        source: Name used in error messages (the file path).
        check_models: Require each model to be a registry name or an existing file.

    Raises:
        SuiteError: Naming ``source`` and the offending key.
    """
    from ..gradients import PRECISIONS, VARIANTS

    _check_table(data, _TOP, source)
    for key in _REQUIRED:
        if key not in data:
            raise _fail(source, key, "is required")
    models = _list_of(data, "models", str, source)
    if check_models:
        for i, m in enumerate(models):
            _check_model(m, source, i)
    variants = _list_of(data, "variants", str, source, allowed=VARIANTS)
    precisions = (
        _list_of(data, "precisions", str, source, allowed=PRECISIONS)
        if "precisions" in data
        else ("float32",)
    )
    batch_sizes = _list_of(data, "batch_sizes", int, source, positive=True)
    devices_raw = _list_of(data, "devices", str, source) if "devices" in data else ("cpu",)
    devices = []
    for i, d in enumerate(devices_raw):
        try:
            devices.append(normalize_device(d))
        except ValueError as exc:
            raise _fail(source, f"devices[{i}]", str(exc)) from None
    image_size = data.get("image_size")
    if image_size is not None and image_size < 8:
        raise _fail(source, "image_size", f"must be >= 8, got {image_size}")
    timing_data = data.get("timing", {})
    _check_table(timing_data, _TIMING, source, prefix="timing.")
    try:
        timing = TimingConfig(**timing_data)
    except ValueError as exc:
        raise SuiteError(f"{source}: table 'timing': {exc}") from None
    chunk_data = data.get("chunking", {})
    _check_table(chunk_data, _CHUNKING, source, prefix="chunking.")
    candidates: tuple = ()
    if chunk_data.get("candidates"):
        candidates = _list_of(chunk_data, "candidates", int, source, positive=True)
    if "checks" in data:
        _check_checks(data["checks"], source)
    if "agreement" in data:
        _check_agreement(data["agreement"], source)
    name = data.get("name") or (Path(source).stem if source.endswith(".toml") else "")
    if not name:
        raise _fail(source, "name", "is required")
    return Suite(
        name=name,
        models=models,
        variants=variants,
        precisions=tuple(sorted(set(precisions), key=PRECISIONS.index)),
        batch_sizes=batch_sizes,
        devices=tuple(dict.fromkeys(devices)),
        image_size=image_size,
        weights=data.get("weights", RANDOM_WEIGHTS),
        seed=data.get("seed", 0),
        timing=timing,
        chunk_candidates=tuple(sorted(set(candidates))),
        fresh_process=data.get("fresh_process", False),
        description=data.get("description", ""),
        source=source,
        checks=data.get("checks"),
        agreement=data.get("agreement"),
    )


def load_suite(name_or_path: str | Path) -> Suite:
    """Read a suite: a packaged suite name ("quick", "backbones", "batch-sweep") or a path.

    Raises:
        SuiteError: No such suite/file, invalid TOML, or a bad key (the message names
            the file and the key).
    """
    data, path = read_toml(name_or_path, suites_dir(), "suite", SuiteError)
    return parse_suite(data, source=str(path))
