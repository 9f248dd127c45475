"""The HTML report: one self-contained page, figures embedded as base64 PNG data URIs.

The page loads nothing from the network (its Content-Security-Policy forbids it),
has no scripts and works opened from disk. Every text that comes from the store
(model, file, class and suite names, reasons) is HTML-escaped.
"""

from __future__ import annotations

import base64
from html import escape
from string import Template

from . import check_tables, precision_section, run_tables, timing_tables
from .figures import ReportFigure
from .report_data import ReportData
from .table_cells import Table
from .video_section import VIDEO_NOTE

__all__ = ["SECTIONS", "render_html"]

#: Section ids in page order, with their headings.
SECTIONS = {
    "summary": "Summary",
    "timing": "Timing",
    "throughput": "Throughput against batch size",
    "compile-memory": "Compile time and peak memory",
    "backbones": "Backbones",
    "precision": "Precision: speed against fidelity",
    "agreement": "Variants against eager",
    "maps": "Saliency maps",
    "curves": "Deletion and insertion",
    "checks": "Check results",
    "randomization": "Model randomisation",
    "video": "Video",
    "gate": "Gate",
    "reproducibility": "Reproducibility",
}

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 1180px; margin: 0 auto; padding: 0 1.2rem 3rem; }
h1 { font-size: 1.6rem; margin: 1.4rem 0 0.2rem; } h2 { border-bottom: 1px solid #ddd;
  padding-bottom: 0.2rem; margin-top: 2.2rem; } h3 { font-size: 1.05rem; }
nav { font-size: 0.9rem; } nav a { margin-right: 0.8rem; }
.meta, figcaption, .note { color: #555; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.86rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num, td:first-child { white-space: nowrap; }
tr.bad td { background: #fdecea; }
.scroll { overflow-x: auto; }
figure { margin: 1rem 0 1.6rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.verdict { font-weight: 600; padding: 0.1rem 0.45rem; border-radius: 3px; }
.pass { background: #e3f4e6; color: #17612a; } .fail { background: #fdecea; color: #8a1c12; }
ul.gates { padding-left: 1.1rem; } code { font-size: 0.9em; }
</style>
</head>
<body>
<header>
<h1>$heading</h1>
<p class="meta">$meta</p>
<nav>$nav</nav>
</header>
$body
</body>
</html>
""")


def _table(table: Table) -> str:
    if not table.rows:
        return '<p class="note">None.</p>'
    head = "".join(
        f'<th{" class=num" if n else ""} scope="col">{escape(c)}</th>'
        for c, n in zip(table.columns, table.numeric)
    )
    rows = []
    for row in table.rows:
        bad = any(v.startswith(("failed", "NO: ")) or v == "FAIL" for v in row)
        cells = "".join(
            f"<td{' class=num' if n else ''}>{escape(v)}</td>" for v, n in zip(row, table.numeric)
        )
        rows.append(f"<tr{' class=bad' if bad else ''}>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure(fig: ReportFigure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="fig-{escape(fig.name)}"><img src="data:image/png;base64,{data}" '
        f'alt="{escape(fig.title)}"><figcaption><strong>{escape(fig.title)}.</strong> '
        f"{escape(fig.caption)}</figcaption></figure>"
    )


def _summary(data: ReportData) -> str:
    parts = []
    if data.run.status != "complete":
        parts.append(
            f'<p class="note">The run is <strong>{escape(data.run.status)}</strong>; '
            "the report shows the cells it recorded.</p>"
        )
    if data.gates:
        items = "".join(
            f'<li><span class="verdict {"pass" if v == "pass" else "fail"}">{escape(v.upper())}'
            f"</span> {escape(line)}</li>"
            for v, line in check_tables.gate_lines(data)
        )
        parts.append(f'<h3>Gate</h3><ul class="gates">{items}</ul>')
    else:
        parts.append('<p class="note">No gate ran in this run.</p>')
    if any(t.ok for t in data.timings):
        parts.append(
            "<h3>Fastest variant per backbone</h3>" + _table(timing_tables.fastest_table(data.timings))
        )
    parts.append(f"<h3>Failed cells ({len(data.failures)})</h3>" + _table(run_tables.failure_table(data)))
    return "".join(parts)


def _maps_intro(data: ReportData) -> str:
    names = sorted({ex.image_name for ex in data.maps})
    return (
        '<p class="note">Each row: the map (raw values, clipped at the 99th percentile of '
        "its magnitude; diverging colours when it has signed values), the input at the "
        "model's size, and the map over the input. Images: "
        + ", ".join(f"<code>{escape(n)}</code>" for n in names)
        + ".</p>"
    )


def _reproducibility(data: ReportData) -> str:
    out = _table(run_tables.key_facts(data.run))
    protocols = run_tables.protocol_table(data)
    if protocols.rows:
        out += "<h3>Protocol presets</h3>" + _table(protocols)
    return out + (
        "<details><summary>Everything recorded with the run</summary>"
        + _table(run_tables.reproducibility_table(data.run))
        + "</details>"
    )


def _sections(data: ReportData, figures: list[ReportFigure]) -> dict[str, str]:
    figs = {s: "".join(_figure(f) for f in figures if f.section == s) for s in SECTIONS}
    body = {"summary": _summary(data)}
    if data.timings:
        body["timing"] = (
            '<p class="note">Median and interquartile range of one call, in '
            "milliseconds; images/s from the median.</p>" + _table(timing_tables.timing_table(data.timings))
        )
    for section in ("throughput", "compile-memory"):
        if figs[section]:
            body[section] = figs[section]
    if any(t.ok for t in data.timings):
        body["backbones"] = (
            f'<p class="note">Each backbone and variant at its largest '
            f"batch size that ran, as ratios to {escape(data.baseline)}'s cell "
            "on the same device, variant and batch size (as "
            "<code>saliency-bench compare</code>). Peak memory is device "
            "memory when measured, else process RSS.</p>"
            + _table(timing_tables.backbone_table(data.timings, data.baseline))
        )
        note = timing_tables.shared_process_memory_note(data)
        if note:
            body["backbones"] += f'<p class="note">{escape(note)}</p>'
    if precision_section.has_low_precision(data.timings):
        body["precision"] = (
            f'<p class="note">{escape(precision_section.PRECISION_NOTE)}</p>'
            + _table(precision_section.precision_table(data.timings))
            + figs["precision"]
        )
    if data.agreements:
        body["agreement"] = f'<p class="note">{escape(check_tables.AGREEMENT_NOTE)}</p>' + _table(
            check_tables.agreement_table(data.agreements)
        )
    if figs["maps"]:
        body["maps"] = _maps_intro(data) + figs["maps"]
    if figs["curves"]:
        body["curves"] = figs["curves"]
    if data.checks:
        body["checks"] = _table(check_tables.checks_table(data))
    if figs["randomization"]:
        body["randomization"] = figs["randomization"]
    if figs["video"]:
        body["video"] = f'<p class="note">{escape(VIDEO_NOTE)}</p>' + figs["video"]
    if data.gates:
        body["gate"] = _table(check_tables.gate_table(data))
    body["reproducibility"] = _reproducibility(data)
    return {s: body[s] for s in SECTIONS if s in body}


def render_html(data: ReportData, figures: list[ReportFigure]) -> str:
    """The report page for ``data`` with ``figures`` embedded, as one HTML string."""
    sections = _sections(data, figures)
    body = "\n".join(
        f'<section id="{sid}"><h2>{escape(SECTIONS[sid])}</h2>{html}</section>'
        for sid, html in sections.items()
    )
    nav = "".join(f'<a href="#{sid}">{escape(SECTIONS[sid])}</a>' for sid in sections)
    run = data.run
    meta = (
        f"Run <code>{escape(str(run.id))}</code> · status {escape(run.status)} · started "
        f"{escape(str(run.started))} · finished {escape(str(run.finished))} · seed "
        f"{escape(str(run.seed))}"
    )
    return _PAGE.substitute(
        title=escape(f"saliency-bench report: {run.suite} ({run.id})"),
        heading=escape(f"saliency-bench report: {run.suite}"),
        meta=meta,
        nav=nav,
        body=body,
    )
