"""Cascading MPRT with ``layerwise=False``: only the trained and the fully randomized
model are explained, and the value, the last-step statistics and the last step's
similarities are those of the full cascade (the same randomized weights)."""

import numpy as np

from saliency_core.checks import run_checks
from saliency_core.checks.settings import CheckSettings
from saliency_core.store import ResultStore

from .randomization_models import images, patch_cnn


def mprt(model, x, tmp_path, name, **setting):
    settings = CheckSettings(metric_settings={"mprt-cascading": setting} if setting else {})
    with ResultStore(tmp_path / f"{name}.sqlite") as store:
        run = store.start_run("check")
        report = run_checks(
            model,
            x,
            methods=["gradient"],
            metrics=["mprt-cascading"],
            seed=0,
            data_name="d",
            variant="function",
            settings=settings,
            store=store,
            run_id=run,
        )
        (cell,) = store.cells(run, kind="check")
        return report.results[0], cell.metrics, store.artifact(cell.id, "similarity")


def test_the_last_step_alone_gives_the_cascade_s_value_with_two_maps_per_image(tmp_path):
    model, x = patch_cnn(), images(4)
    full, full_cell, full_sim = mprt(model, x, tmp_path, "full")
    last, last_cell, last_sim = mprt(model, x, tmp_path, "last", layerwise=False)
    assert full_cell["layers"] == ["logits", "conv"] and full_sim.shape[0] == 2
    assert last_sim.shape[0] == 1 and last.config["final_only"] and not full.config["final_only"]
    # the same per-image similarities at the fully randomized model, every measure
    np.testing.assert_array_equal(last_sim[0], full_sim[-1])
    assert last.per_image == full.per_image and last.value == full.value
    for name, values in full.per_image_statistics.items():
        if name.startswith("last_step_"):
            assert last.per_image_statistics[name] == values
    assert full.value < 0.9  # the gradient does change (not a vacuous equality)
