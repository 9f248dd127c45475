"""The report's tables about the run itself: failed cells, the reproducibility table
(run, config, machine and commit), the protocol each check metric ran with, and the
short key facts for pull requests."""

from __future__ import annotations

import json

from .report_data import ReportData, RunInfo
from .table_cells import DASH, Table, make_table

__all__ = ["failure_table", "KEY_FACTS", "key_facts", "protocol_table", "reproducibility_table"]


def failure_table(data: ReportData) -> Table:
    """Failed cells of any kind with the reason their writer recorded."""
    return make_table(
        [("Kind", False), ("Cell", False), ("Reason", False)],
        [(f.kind, f.key, f.reason) for f in data.failures],
    )


def _flatten(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict) and value:
        out = []
        for k in sorted(value, key=str):
            out += _flatten(value[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    if value is None or value == [] or value == {}:
        return [(prefix, DASH)]
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return [(prefix, ", ".join(map(str, value)))]
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return [(prefix, text)]


def reproducibility_table(run: RunInfo) -> Table:
    """The run's identity, configuration (suite file, flags, presets, ...) and the
    machine and commit metadata the store recorded, one flattened key per row."""
    rows = [
        ("run", "id", str(run.id)),
        ("run", "suite", run.suite),
        ("run", "seed", str(run.seed)),
        ("run", "status", run.status),
        ("run", "started", str(run.started)),
        ("run", "finished", str(run.finished)),
    ]
    rows += [("config", k, v) for k, v in _flatten(run.config)]
    for section in sorted(run.metadata, key=str):
        rows += [(str(section), k, v) for k, v in _flatten(run.metadata[section])]
    return make_table([("Source", False), ("Key", False), ("Value", False)], rows)


def protocol_table(data: ReportData) -> Table:
    """The protocol settings each check metric ran with (the first stored config of it)."""
    rows = [(metric, k, v) for metric in sorted(data.protocols) for k, v in _flatten(data.protocols[metric])]
    return make_table([("Metric", False), ("Setting", False), ("Value", False)], rows)


#: Metadata rows a pull request reader needs to tell runs apart (store.machine's names).
KEY_FACTS = (
    ("commit_info", "id"),
    ("commit_info", "dirty"),
    ("commit_info", "branch"),
    ("machine_info", "saliency_bench"),
    ("machine_info", "tensorflow"),
    ("machine_info", "keras"),
    ("machine_info", "numpy"),
    ("machine_info", "python_version"),
    ("machine_info", "cpu_model"),
    ("machine_info", "cpu_usable"),
    ("machine_info", "gpus"),
    ("machine_info", "gpu_driver"),
    ("machine_info", "xla_flags"),
    ("machine_info", "tf_xla_flags"),
    ("machine_info", "onednn_opts"),
    ("machine_info", "onednn_enabled"),
    ("machine_info", "tf_threads.intra_op"),
    ("machine_info", "tf_threads.inter_op"),
)


def key_facts(run: RunInfo, max_config_rows: int = 12) -> Table:
    """A short reproducibility table for pull requests: run id, suite and seed, the
    commit, library versions, devices and XLA flags, and the run's short config rows."""
    full = reproducibility_table(run)
    by_key = {(r[0], r[1]): r for r in full.rows}
    rows = [by_key[("run", k)] for k in ("id", "suite", "seed")]
    rows += [by_key[k] for k in KEY_FACTS if k in by_key]
    rows += [r for r in full.rows if r[0] == "config" and len(r[2]) <= 120][:max_config_rows]
    return Table(columns=full.columns, rows=rows, numeric=full.numeric)
