"""Read one run of the store into :class:`~.report_data.ReportData` (``load_report_data``).

With :mod:`.cell_readers` this is the only part of the report that talks to the store.
Nothing here computes a saliency map or a metric: the report only picks, groups and
sorts what the writers stored.
"""

from __future__ import annotations

import json
from typing import Any


from .cell_readers import (
    finite_or_none,
    int_or_none,
    read_checks,
    read_gate,
    read_map_example,
    read_timing,
    with_roof_fractions,
)
from .report_data import (
    AgreementCell,
    Failure,
    ReportData,
    RunInfo,
    describe_key,
    precision_order,
    variant_order,
)

__all__ = ["load_report_data"]


def load_report_data(store, run_id) -> ReportData:
    """Read run ``run_id`` (an id, ``"latest"`` or a unique id prefix) of ``store``, a
    ``ResultStore``, into a :class:`ReportData`. The store's ``UnknownRunError``
    propagates when no run matches.
    """
    run = store.get_run(run_id)
    run_id = run.id
    info = RunInfo(
        id=run.id,
        suite=str(run.suite),
        status=str(run.status),
        started=run.started,
        finished=run.finished,
        seed=run.seed,
        config=dict(run.config or {}),
        metadata=dict(run.metadata or {}),
    )
    data: dict[str, Any] = {
        "timings": [],
        "failures": [],
        "maps": [],
        "checks": [],
        "curves": [],
        "randomization": [],
        "gates": [],
        "protocols": {},
        "agreements": [],
        "video": [],
        "strips": [],
    }
    cells = sorted(
        store.cells(run_id), key=lambda c: (c.kind, json.dumps(c.key, sort_keys=True, default=str))
    )
    for cell in cells:
        if cell.status != "ok":
            data["failures"].append(
                Failure(
                    kind=cell.kind,
                    key=describe_key(cell.key),
                    reason=str(cell.reason or "no reason recorded"),
                )
            )
        if cell.kind == "timing":
            data["timings"].append(read_timing(cell))
        elif cell.kind == "maps":
            example = read_map_example(store, cell)
            if example is not None:
                data["maps"].append(example)
        elif cell.kind == "gate":
            data["gates"].append(read_gate(cell))
        elif cell.kind == "agreement" and cell.status == "ok":
            m = cell.metrics or {}
            raw_floor = m.get("noise_floor")
            floor = raw_floor if isinstance(raw_floor, dict) else {}
            data["agreements"].append(
                AgreementCell(
                    model=str(cell.key.get("model")),
                    variant=str(cell.key.get("variant")),
                    device=str(cell.key.get("device", "")),
                    rel_l2=finite_or_none(m.get("rel_l2")),
                    flips=int_or_none(m.get("flips")),
                    kink_units=int_or_none(m.get("kink_units")),
                    pinned_rel_l2=finite_or_none(m.get("pinned_rel_l2")),
                    images=len(m.get("images") or []) or None,
                    floor_pinned_rel_l2=finite_or_none(floor.get("pinned_rel_l2")),
                    pinning_moved=finite_or_none(m.get("pinning_moved")),
                    agrees=m.get("agrees") if isinstance(m.get("agrees"), bool) else None,
                    reasons=tuple(str(r) for r in m.get("reasons") or ()),
                )
            )
    read_checks(store, [c for c in cells if c.kind == "check"], data)
    data["timings"] = with_roof_fractions(data["timings"], store, run_id)
    data["timings"].sort(
        key=lambda t: (
            t.model,
            t.device,
            variant_order(t.variant),
            precision_order(t.precision),
            t.batch_size,
        )
    )
    data["maps"].sort(key=lambda e: (e.model, e.method, e.image_name))
    data["agreements"].sort(key=lambda a: (a.model, a.device, variant_order(a.variant)))
    return ReportData(run=info, **data)
