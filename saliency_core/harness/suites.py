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

from ..devices import normalize_device
from ..models.weights import RANDOM_WEIGHTS
from ..toml_files import read_toml
from .suite_checks import AGREEMENT_DEFAULTS, CHECKS_DEFAULTS, check_agreement, check_checks
from .suite_schema import (
    CHUNKING_KEYS,
    REQUIRED_KEYS,
    SuiteError,
    TIMING_KEYS,
    TOP_KEYS,
    check_model,
    check_table,
    key_error,
    list_of,
)
from .call_timing import TimingConfig

__all__ = [
    "Suite",
    "load_suite",
    "parse_suite",
    "list_suites",
    "suites_dir",
    "agreement_settings",
    "checks_settings",
]


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


def agreement_settings(suite: "Suite | dict") -> dict | None:
    """A suite's ``[agreement]`` settings with defaults filled in, or None when it has none."""
    table = suite.agreement if isinstance(suite, Suite) else (suite or {}).get("agreement")
    return None if table is None else {**AGREEMENT_DEFAULTS, **table}


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

    check_table(data, TOP_KEYS, source)
    for key in REQUIRED_KEYS:
        if key not in data:
            raise key_error(source, key, "is required")
    models = list_of(data, "models", str, source)
    if check_models:
        for i, m in enumerate(models):
            check_model(m, source, i)
    variants = list_of(data, "variants", str, source, allowed=VARIANTS)
    precisions = (
        list_of(data, "precisions", str, source, allowed=PRECISIONS) if "precisions" in data else ("float32",)
    )
    batch_sizes = list_of(data, "batch_sizes", int, source, positive=True)
    devices_raw = list_of(data, "devices", str, source) if "devices" in data else ("cpu",)
    devices = []
    for i, d in enumerate(devices_raw):
        try:
            devices.append(normalize_device(d))
        except ValueError as exc:
            raise key_error(source, f"devices[{i}]", str(exc)) from None
    image_size = data.get("image_size")
    if image_size is not None and image_size < 8:
        raise key_error(source, "image_size", f"must be >= 8, got {image_size}")
    timing_data = data.get("timing", {})
    check_table(timing_data, TIMING_KEYS, source, prefix="timing.")
    try:
        timing = TimingConfig(**timing_data)
    except ValueError as exc:
        raise SuiteError(f"{source}: table 'timing': {exc}") from None
    chunk_data = data.get("chunking", {})
    check_table(chunk_data, CHUNKING_KEYS, source, prefix="chunking.")
    candidates: tuple = ()
    if chunk_data.get("candidates"):
        candidates = list_of(chunk_data, "candidates", int, source, positive=True)
    if "checks" in data:
        check_checks(data["checks"], source)
    if "agreement" in data:
        check_agreement(data["agreement"], source)
    name = data.get("name") or (Path(source).stem if source.endswith(".toml") else "")
    if not name:
        raise key_error(source, "name", "is required")
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
