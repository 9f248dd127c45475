"""The report rendered from a small stored run: sections, figures, escaping, Markdown,
determinism, and that rendering reads the store only (no gradients, no TensorFlow)."""

from __future__ import annotations

import argparse
import html
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import saliency_core
import saliency_core.explainer
import saliency_core.gradients
from saliency_core.cli import commands_report
from saliency_core.cli.main import CliError
from saliency_core.report import render_report

from .conftest import (
    EXPECTED_FIGURES,
    FAIL_REASON,
    INJECTED,
    MAP_METHODS,
    MODELS,
    ROOF,
    SECTION_IDS,
    SUITE,
    build_run,
)


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def _boom(*args, **kwargs):
    raise AssertionError("the report must not compute saliency")


@pytest.fixture(scope="module")
def rendered(stored_run, tmp_path_factory):
    """The full run rendered once (both formats) with the core's gradient code patched
    to raise, so every test below also shows the report never computes a map."""
    store, run_id = stored_run
    with pytest.MonkeyPatch.context() as patch:
        for module, name in (
            (saliency_core.explainer, "Explainer"),
            (saliency_core, "Explainer"),
            (saliency_core.explainer, "saliency"),
            (saliency_core, "saliency"),
            (saliency_core.gradients, "build_gradient_fn"),
            (saliency_core.gradients, "build_forward_fn"),
        ):
            patch.setattr(module, name, _boom)
        paths = render_report(store, run_id, tmp_path_factory.mktemp("report"))
    return paths["html"].read_text(encoding="utf-8"), paths["md"]


def test_html_has_every_section_in_order(rendered):
    page, _ = rendered
    assert _sections(page) == list(SECTION_IDS)
    for sid in SECTION_IDS:
        assert f'href="#{sid}"' in page


def test_html_embeds_every_figure_as_png_data_uri(rendered):
    page, _ = rendered
    assert page.count("<img") == EXPECTED_FIGURES
    assert page.count('<img src="data:image/png;base64,iVBORw0KGgo') == EXPECTED_FIGURES
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from a network


def test_user_text_is_escaped(rendered):
    page, md = rendered
    text = md.read_text(encoding="utf-8")
    assert html.escape(INJECTED) in page and INJECTED not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert "<img src=x onerror" not in page
    assert html.escape(SUITE) in page and SUITE not in page
    assert "&lt;i&gt;quick&lt;/i&gt;" in page and "<i>quick</i>" not in page
    assert "smoke &amp; &lt;i&gt;quick&lt;/i&gt;" in text
    assert "<img src=x" not in text and "<i>" not in text


def test_summary_reports_gate_fastest_variants_and_failures(rendered):
    page, _ = rendered
    summary = page.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    assert ">FAIL<" in summary and "final similarity 0.10 is not below 0.05" in summary
    for model in MODELS:
        assert model in summary
    assert FAIL_REASON.split(":")[0] in summary and "[8,112,112,32]" in summary
    assert "Failed cells (1)" in summary


def test_markdown_has_tables_and_figure_files_beside_it(rendered):
    _, md = rendered
    text = md.read_text(encoding="utf-8")
    for heading in (
        "## Summary",
        "## Timing",
        "## Backbones against resnet50",
        "## Checks",
        "## Gate rules",
        "## Reproducibility",
    ):
        assert heading in text
    assert "| Backbone | Device | Variant | Batch | Median ms | IQR ms | Images/s" in text
    assert "mobilenet\\_v2" in text and "2.40×" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert len(links) == EXPECTED_FIGURES
    for link in links:
        png = md.parent / link
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(text.splitlines()) < 150  # pasteable into a pull request


def test_rerendering_is_byte_identical(rendered, stored_run, tmp_path):
    page, md = rendered
    store, run_id = stored_run
    again = render_report(store, run_id, tmp_path / "again")
    assert again["html"].read_text(encoding="utf-8") == page
    assert again["md"].read_bytes() == md.read_bytes()
    figures = sorted((md.parent / "figures").iterdir())
    assert len(figures) == EXPECTED_FIGURES
    for png in figures:
        assert png.read_bytes() == (tmp_path / "again" / "figures" / png.name).read_bytes()
        assert b"Software" not in png.read_bytes()


def test_rendering_never_calls_gradient_code(rendered):
    """``rendered`` ran with Explainer, saliency and the gradient builders raising."""
    page, _ = rendered
    assert page.count("<img") == EXPECTED_FIGURES


def test_rendering_does_not_import_tensorflow(stored_run, tmp_path):
    store, run_id = stored_run
    code = textwrap.dedent(f"""
        import sys
        from saliency_core.store import ResultStore
        from saliency_core.report import render_report
        render_report(ResultStore({str(store.path)!r}), {run_id!r}, {str(tmp_path / "x")!r})
        loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
        assert not loaded, loaded
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def test_sections_without_cells_are_left_out(tmp_path):
    store, run_id = build_run(tmp_path / "timing.sqlite", maps=False, checks=False, gate=False)
    with store:
        page = render_report(store, run_id, tmp_path / "t", formats=("html",))["html"].read_text()
    assert _sections(page) == [
        "summary",
        "timing",
        "throughput",
        "compile-memory",
        "backbones",
        "reproducibility",
    ]
    assert page.count("<img") == 2 and "No gate ran in this run." in page


@pytest.mark.parametrize("fresh", [False, True])
def test_shared_process_rss_gets_a_caveat_only_without_fresh_processes(tmp_path, fresh):
    store, run_id = build_run(
        tmp_path / "m.sqlite", maps=False, checks=False, gate=False, config={"fresh_process": fresh}
    )
    with store:
        out = render_report(store, run_id, tmp_path / "r")
    caveat = "Peak RSS was measured in one process"
    for fmt in ("md", "html"):
        assert (caveat in out[fmt].read_text()) is not fresh, fmt


def test_empty_run_renders_summary_and_reproducibility(empty_run, tmp_path):
    store, _ = empty_run
    paths = render_report(store, "latest", tmp_path / "e")
    assert _sections(paths["html"].read_text()) == ["summary", "reproducibility"]
    assert "<img" not in paths["html"].read_text()
    assert "Failed cells (0)" in paths["md"].read_text()


def test_only_requested_formats_and_bad_format(empty_run, tmp_path):
    store, run_id = empty_run
    paths = render_report(store, run_id, tmp_path / "md", formats=("md",))
    assert set(paths) == {"md"} and not (tmp_path / "md" / "report.html").exists()
    with pytest.raises(ValueError, match="pdf"):
        render_report(store, run_id, tmp_path / "bad", formats=("pdf",))


def _cli(argv):
    parser = argparse.ArgumentParser()
    commands_report.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_report_latest(empty_run, tmp_path, capsys):
    store, run_id = empty_run
    assert _cli(["report", "latest", "--store", str(store.path), "--format", "md"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(Path(store.path).parent / run_id / "report.md")]
    out = tmp_path / "chosen"
    assert _cli(["report", run_id[:15], "--store", str(store.path), "--out", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["report", "nope", "--store", "{store}"], "no run"),
        (["report", "latest", "--store", "{store}", "--format", "html,pdf"], "pdf"),
        (["report", "latest", "--store", "{missing}"], "no results store"),
    ],
)
def test_cli_report_errors(empty_run, tmp_path, argv, message):
    store, _ = empty_run
    argv = [a.format(store=store.path, missing=tmp_path / "missing.sqlite") for a in argv]
    with pytest.raises(CliError, match=message):
        _cli(argv)
    assert not (tmp_path / "missing.sqlite").exists()


def test_signed_and_unsigned_maps_get_one_figure_per_method(rendered):
    page, _ = rendered
    maps = page.split('<section id="maps">', 1)[1].split("</section>", 1)[0]
    assert maps.count("<figure") == len(MAP_METHODS)


def test_timing_table_shows_each_cells_fraction_of_the_best_roof(stored_run):
    from saliency_core.report.run_reader import load_report_data
    from saliency_core.report.timing_tables import timing_table

    store, run_id = stored_run
    data = load_report_data(store, run_id)
    table = timing_table(data.timings)
    col = table.columns.index("Roof %")
    checked = 0
    for cell, row in zip(data.timings, table.rows):
        if cell.ok:
            want = 100.0 * cell.flops_per_image * cell.images_per_s / ROOF
            assert row[col] == f"{want:.1f}", (cell.model, cell.variant, cell.batch_size)
            checked += 1
        else:
            assert row[col] == "—"
    assert checked == len(data.timings) - 1


def test_agreement_cells_show_the_floor_pinning_and_verdict(empty_run, tmp_path):
    """Three agreement cells: agreeing, not agreeing (its reasons shown and the row
    marked), and one written before the noise floor was recorded (dashes)."""
    store, run_id = empty_run
    floor = {"method": "eager float32 vs eager float64", "pinned_rel_l2": 6.2e-7}
    base = {
        "rel_l2": 7e-4,
        "flips": 9,
        "kink_units": 30_787_680,
        "pinned_rel_l2": 7.5e-7,
        "images": ["chelsea", "coffee"],
    }
    store.record_cell(
        run_id,
        "agreement",
        {"model": "m", "variant": "xla", "device": "cpu"},
        status="ok",
        metrics={**base, "noise_floor": floor, "pinning_moved": 0.0, "agrees": True, "reasons": []},
    )
    store.record_cell(
        run_id,
        "agreement",
        {"model": "m", "variant": "function", "device": "cpu"},
        status="ok",
        metrics={
            **base,
            "noise_floor": floor,
            "pinning_moved": 0.0,
            "agrees": False,
            "reasons": ["pinned gradients: relative L2 1.00e-03 > 2.61e-06"],
        },
    )
    store.record_cell(
        run_id, "agreement", {"model": "old", "variant": "xla", "device": "cpu"}, status="ok", metrics=base
    )
    paths = render_report(store, run_id, tmp_path / "a")
    md = paths["md"].read_text()
    assert "| m | xla | cpu | 2 | 7.0e-04 | 9 of 30,787,680 | 7.5e-07 | 6.2e-07 | 0.0e+00 | yes |" in md
    assert "| NO: pinned gradients: relative L2 1.00e-03 &gt; 2.61e-06 |" in md
    assert "| old | xla | cpu | 2 | 7.0e-04 | 9 of 30,787,680 | 7.5e-07 | — | — | — |" in md
    page = paths["html"].read_text()
    assert (
        page.count("<tr class=bad>") == 1
        and "NO: pinned gradients: relative L2 1.00e-03 &gt; 2.61e-06" in page
    )
