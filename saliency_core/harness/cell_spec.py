"""A timing cell before it runs: its spec, its store key, the cells of a suite.

A timing cell's key is ``{model, variant, batch_size, device, image_size}``, plus
``precision`` for a low precision (bfloat16, float16): a float32 cell's key has no
``precision`` entry, so keys of runs made before the precision axis existed still
match (readers take a missing ``precision`` as float32).
"""

from __future__ import annotations

from dataclasses import dataclass

from .suites import Suite

__all__ = ["CellSpec", "key_precision", "expand_cells", "native_size", "cell_done"]


@dataclass(frozen=True)
class CellSpec:
    """One timing cell before it runs. ``image_size`` None = the model's own size."""

    model: str
    variant: str
    batch_size: int
    device: str
    image_size: int | None = None
    precision: str = "float32"

    def key(self, size: int | list[int] | None) -> dict:
        """The store key (``timing`` convention) for the cell at input size ``size``
        (``[height, width]`` for a model file with non-square inputs); ``precision``
        only when it is not float32."""
        key = {
            "model": self.model,
            "variant": self.variant,
            "batch_size": self.batch_size,
            "device": self.device,
            "image_size": size,
        }
        return key if self.precision == "float32" else {**key, "precision": self.precision}

    def label(self) -> str:
        """Short text for progress lines."""
        low = "" if self.precision == "float32" else f" {self.precision}"
        return f"{self.model} {self.variant}{low} b{self.batch_size} {self.device}"


def key_precision(key: dict) -> str:
    """A timing (or chunk) cell key's precision: float32 when the key has none."""
    return str(key.get("precision", "float32"))


def expand_cells(suite: Suite) -> list[CellSpec]:
    """All cells of a suite, ordered model, device, variant, precision, batch size (float32
    before the low precisions, so a run's float32 numbers come first)."""
    return [
        CellSpec(m, v, b, d, suite.image_size, p)
        for m in suite.models
        for d in suite.devices
        for v in suite.variants
        for p in suite.precisions
        for b in suite.batch_sizes
    ]


def native_size(model: str) -> int | None:
    """A registry model's own input size (height), or None when unknown before loading."""
    from ..models.registry import BACKBONES, LITE0

    if model.lower() == LITE0:
        return 224
    entry = BACKBONES.get(model.lower())
    return int(entry.input_size[0]) if entry else None


def cell_done(store, run_id: str, spec: CellSpec, *, retry_failed: bool = False) -> bool:
    """Whether the run already has ``spec``'s timing cell (an ok one, with
    ``retry_failed``); False when its size is known only after loading (a model file)."""
    expected = spec.image_size or native_size(spec.model)
    return expected is not None and store.has_cell(
        run_id, "timing", spec.key(expected), status="ok" if retry_failed else None
    )
