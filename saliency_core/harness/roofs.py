"""The machine roof of a timing run: numpy fp32 matmul GFLOP/s per device.

It is measured once at the start of a run (and of a resume) and stored in the run
config; before each cell a short re-sample keeps the best rate seen so far
(:class:`~.flops.RoofTracker`), which each timing cell records as ``roof_gflops`` and
divides by for ``roof_fraction``.

A timing cell's ``roof_fraction`` divides by the roof known when the cell ran; a
cell that ran while the start-of-run measurement was slowed by other work can
therefore show too high a fraction. Displays should divide by :func:`best_roofs`
(the best rate seen over the whole run), as ``saliency-bench run`` does.
"""

from __future__ import annotations

import logging

from .flops import RoofTracker

__all__ = ["best_roofs", "ROOF_METHOD"]

log = logging.getLogger(__name__)


ROOF_METHOD = (
    "numpy fp32 matmul 2048x2048: GFLOP/s of the fastest of 20 products at the "
    "start, re-sampled (3 products) before each cell, best rate kept"
)


class Roofs:
    """One :class:`~.flops.RoofTracker` per device, measured when first needed.

    ``fixed`` (GFLOP/s) replaces every measurement (tests). A device whose roof cannot
    be measured (e.g. a GPU that is not there) gets None: its cells have no roof
    fraction (and fail on their own for the missing device).
    """

    def __init__(self, fixed: float | None = None):
        self.fixed = fixed
        self._trackers: dict[str, RoofTracker | None] = {}

    def _tracker(self, device: str) -> RoofTracker | None:
        if device not in self._trackers:
            try:
                self._trackers[device] = RoofTracker(self.fixed, resample=self.fixed is None, device=device)
            except Exception as exc:  # noqa: BLE001 - no roof is not fatal
                log.warning("could not measure the roof of %s: %s", device, exc)
                self._trackers[device] = None
        return self._trackers[device]

    def current_value(self, device: str) -> float | None:
        tracker = self._tracker(device)
        return tracker.gflops if tracker else None

    def current(self, device: str) -> str:
        value = self.current_value(device)
        return "none" if value is None else repr(value)

    def before_cell(self, device: str) -> float | None:
        tracker = self._tracker(device)
        return tracker.before_cell() if tracker else None

    def trackers(self) -> dict[str, RoofTracker | None]:
        return dict(self._trackers)

    def saw(self, device: str, gflops: float | None) -> None:
        tracker = self._tracker(device)
        if tracker and gflops:
            tracker.gflops = max(tracker.gflops, float(gflops))


def record_roofs(store, run_id: str, roofs: "Roofs") -> None:
    """One ``roof`` cell per device for this session of the run: the best rate seen."""
    for device, tracker in roofs.trackers().items():
        if tracker is None:
            continue
        session = len([c for c in store.cells(run_id, kind="roof") if c.key.get("device") == device])
        store.record_cell(
            run_id,
            "roof",
            {"device": device, "session": session},
            status="ok",
            metrics={"gflops": tracker.gflops, "initial_gflops": tracker.initial, "method": ROOF_METHOD},
        )


def best_roofs(store, run_id: str) -> dict[str, float]:
    """The best roof (GFLOP/s) seen per device over a run: its ``roof`` cells, the timing
    cells' ``roof_gflops`` and the run config's start values."""
    best: dict[str, float] = {}

    def see(device, value):
        if device is not None and value:
            best[device] = max(best.get(device, 0.0), float(value))

    run = store.get_run(run_id)
    for device, value in (run.config.get("roofs") or {}).items():
        see(device, value)
    for cell in store.cells(run_id, kind="roof"):
        see(cell.key.get("device"), cell.metrics.get("gflops"))
    for cell in store.cells(run_id, kind="timing"):
        see(cell.key.get("device"), cell.metrics.get("roof_gflops"))
    return best
