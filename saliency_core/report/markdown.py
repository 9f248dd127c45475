"""The Markdown report: the HTML report's summary and tables, short enough to paste
into a pull request, with figures linked as PNG files beside it.

Text from the store is escaped so it shows literally on GitHub: ``& < >`` become
entities (no raw HTML) and Markdown's punctuation is backslash-escaped.
"""

from __future__ import annotations

import re

from . import check_tables, precision_section, run_tables, timing_tables
from .figures import ReportFigure
from .report_data import ReportData
from .table_cells import Table
from .video_section import VIDEO_NOTE

__all__ = ["md_escape", "render_markdown"]

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: str) -> str:
    """``text`` as literal Markdown (one line): HTML entities for ``& < >``, a
    backslash before Markdown punctuation, newlines as spaces."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", " ".join(text.splitlines()))


def _table(table: Table) -> list[str]:
    if not table.rows:
        return ["None.", ""]
    rule = ["---:" if n else "---" for n in table.numeric]
    lines = ["| " + " | ".join(md_escape(c) for c in table.columns) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in table.rows]
    return lines + [""]


def _figures(figures: list[ReportFigure], section: str, folder: str) -> list[str]:
    return [
        line
        for f in figures
        if f.section == section
        for line in (f"![{md_escape(f.title)}]({folder}/{f.name}.png)", "")
    ]


def render_markdown(data: ReportData, figures: list[ReportFigure], folder: str) -> str:
    """The Markdown report; figure ``f`` is linked as ``{folder}/{f.name}.png``."""
    run = data.run
    out = [
        f"# saliency-bench report: {md_escape(run.suite)}",
        "",
        f"Run `{md_escape(run.id)}`, status {md_escape(run.status)}, started "
        f"{md_escape(run.started)}, seed {md_escape(run.seed)}.",
        "",
        "## Summary",
        "",
    ]
    if data.gates:
        out += [f"- **{v.upper()}** {md_escape(line)}" for v, line in check_tables.gate_lines(data)] + [""]
    else:
        out += ["No gate ran in this run.", ""]
    if any(t.ok for t in data.timings):
        out += ["### Fastest variant per backbone", ""] + _table(timing_tables.fastest_table(data.timings))
    out += [f"### Failed cells ({len(data.failures)})", ""] + _table(run_tables.failure_table(data))
    if data.timings:
        out += [
            "## Timing",
            "",
            "Median and IQR of one call in ms; images/s from the median.",
            "",
            f"<details><summary>All {len(data.timings)} timing cells</summary>",
            "",
        ]
        out += _table(timing_tables.timing_table(data.timings)) + ["</details>", ""]
        out += _figures(figures, "throughput", folder) + _figures(figures, "compile-memory", folder)
    if any(t.ok for t in data.timings):
        out += [f"## Backbones against {md_escape(data.baseline)}", ""]
        out += _table(timing_tables.backbone_table(data.timings, data.baseline))
        note = timing_tables.shared_process_memory_note(data)
        if note:
            out += [f"Note: {note}", ""]
    if precision_section.has_low_precision(data.timings):
        out += ["## Precision: speed against fidelity", "", precision_section.PRECISION_NOTE, ""]
        out += _table(precision_section.precision_table(data.timings))
        out += _figures(figures, "precision", folder)
    if data.agreements:
        out += ["## Variants against eager", "", check_tables.AGREEMENT_NOTE, ""]
        out += _table(check_tables.agreement_table(data.agreements))
    if data.checks:
        out += ["## Checks", ""] + _table(check_tables.checks_table(data))
        out += _figures(figures, "curves", folder) + _figures(figures, "randomization", folder)
    if any(f.section == "video" for f in figures):
        out += ["## Video", "", VIDEO_NOTE, ""] + _figures(figures, "video", folder)
    if any(f.section == "maps" for f in figures):
        out += ["## Saliency maps", ""] + _figures(figures, "maps", folder)
    if data.gates:
        out += ["## Gate rules", ""] + _table(check_tables.gate_table(data))
    out += ["## Reproducibility", ""] + _table(run_tables.key_facts(data.run))
    out += ["The HTML report lists everything recorded with the run.", ""]
    return "\n".join(out)
