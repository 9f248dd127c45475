"""The report's Video section, rendered from stored temporal check cells only."""

from __future__ import annotations

import re

import numpy as np
import pytest

from saliency_core.report import render_report
from saliency_core.report.run_reader import load_report_data
from saliency_core.store import ResultStore

F, K, SIDE = 6, 4, 16
METRIC = "temporal-stability"


def _cell(store, run_id, method, *, kind="attribution", chance=False, strip=True):
    rng = np.random.default_rng(len(method))
    values = rng.uniform(0, 1, F - 1)
    frames_ref = np.linspace(0.9, 0.8, F - 1)
    artifacts = {"series": np.stack([values, frames_ref]), "series_x": np.arange(F - 1) + 0.5}
    if strip:
        artifacts.update(
            strip_frames=rng.integers(0, 256, (K, SIDE, SIDE, 3), dtype=np.uint8),
            strip_maps=rng.random((K, SIDE, SIDE)).astype(np.float32),
            strip_index=np.array([0, 2, 3, 5]),
        )
    store.record_cell(
        run_id,
        "check",
        {"model": "tiny", "data": "video", "method": method, "metric": METRIC},
        metrics={
            "value": float(values.mean()),
            "direction": "higher",
            "per_image": values.tolist(),
            "statistics": {},
            "config": {},
            "info": {"category": "temporal"},
            "method_info": {"kind": kind, "chance_baseline": chance},
            "series_info": [
                {"label": "maps", "panel": "Spearman |map|", "reference": False},
                {"label": "frames", "panel": "Spearman |map|", "reference": True},
            ],
        },
        artifacts=artifacts,
    )
    return values


@pytest.fixture
def video_run(tmp_path):
    store = ResultStore(tmp_path / "results.sqlite")
    run_id = store.start_run("check", config={"data": "video"}, seed=0, metadata={})
    written = {
        "gradient": _cell(store, run_id, "gradient"),
        "flow": _cell(store, run_id, "flow", kind="control"),
        "noise": _cell(store, run_id, "noise", kind="control", chance=True, strip=False),
    }
    store.finish_run(run_id)
    yield store, run_id, written
    store.close()


def test_the_report_model_reads_series_and_strips_as_stored(video_run):
    store, run_id, written = video_run
    data = load_report_data(store, run_id)
    by = {s.method: s for s in data.video}
    assert set(by) == set(written)
    for method, values in written.items():
        np.testing.assert_array_equal(by[method].values[0], values)
        assert by[method].reference == [False, True] and by[method].panels[0] == "Spearman |map|"
    assert by["noise"].chance and by["flow"].control and not by["gradient"].control
    assert sorted(s.method for s in data.strips) == ["flow", "gradient"]  # noise stored none
    np.testing.assert_array_equal(data.strips[0].index, [0, 2, 3, 5])


def test_html_and_markdown_have_a_video_section_with_two_figures(video_run, tmp_path, monkeypatch):
    import saliency_core.explainer
    import saliency_core.metrics.motion_agreement as agreement
    import saliency_core.metrics.temporal_stability as stability

    store, run_id, _ = video_run
    boom = lambda *a, **k: pytest.fail("the report recomputed something")  # noqa: E731
    for module, name in (
        (stability, "temporal_stability"),
        (agreement, "motion_agreement"),
        (saliency_core.explainer, "Explainer"),
    ):
        monkeypatch.setattr(module, name, boom)
    paths = render_report(store, run_id, tmp_path / "report")
    page = paths["html"].read_text(encoding="utf-8")
    section = re.search(r'<section id="video">(.*?)</section>', page, re.DOTALL)
    assert section and section.group(1).count('<img src="data:image/png;base64,') == 2
    assert 'href="#video"' in page
    md = paths["md"].read_text(encoding="utf-8")
    assert "## Video" in md
    links = re.findall(r"\]\((figures/\d\d-video-[^)]+\.png)\)", md)
    assert len(links) == 2 and all((tmp_path / "report" / link).is_file() for link in links)


def test_no_temporal_cells_no_video_section(tmp_path):
    with ResultStore(tmp_path / "empty.sqlite") as store:
        run_id = store.start_run("check", config={}, seed=0, metadata={})
        store.finish_run(run_id)
        page = render_report(store, run_id, tmp_path / "r", formats=("html",))["html"].read_text()
    assert 'id="video"' not in page


def test_a_real_check_run_renders_its_video_section(tmp_path):
    """run_checks on a tiny CNN and the bundled video (16 px, 4 frames), then the report."""
    from saliency_core.checks import chance_baseline, run_checks
    from saliency_core.data.check_data import load_check_data
    from saliency_core.methods import flagged_method
    from saliency_core.models.classifier import as_classifier

    from ..core.models_for_tests import small_cnn

    clf = as_classifier(small_cnn(size=SIDE))
    data = load_check_data("video", clf, max_frames=4)
    methods = ["gradient", flagged_method("motion_reference"), chance_baseline()]
    with ResultStore(tmp_path / "real.sqlite") as store:
        run_id = store.start_run("check", config={}, seed=0, metadata={})
        run_checks(
            clf,
            data.images,
            methods=methods,
            metrics=[METRIC, "motion-agreement"],
            seed=0,
            data_name=data.name,
            masks=data.masks,
            sequence=True,
            store=store,
            run_id=run_id,
            variant="function",
        )
        store.finish_run(run_id)
        report = load_report_data(store, run_id)
        page = render_report(store, run_id, tmp_path / "r", formats=("html",))["html"].read_text()
    assert len(report.video) == 2 * len(methods) and len(report.strips) == len(methods)
    section = re.search(r'<section id="video">(.*?)</section>', page, re.DOTALL)
    assert section and section.group(1).count("<img") == 2
