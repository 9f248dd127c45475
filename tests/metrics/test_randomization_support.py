"""The randomization metrics explain the classes they are given, as the curves do."""

import numpy as np
import pytest

from saliency_core.checks import run_checks
from saliency_core.store import ResultStore

from ..checks.test_check_runner import images, tiny_model


@pytest.mark.parametrize("metric", ["mprt-cascading", "mprt-independent", "smprt"])
def test_randomization_metrics_explain_the_given_targets(metric, tmp_path):
    model, x = tiny_model(), images(4)
    top1 = np.argmax(np.asarray(model(x)), axis=-1)
    other = (top1 + 1) % 3  # never the top-1 class
    with ResultStore(tmp_path / "s.sqlite") as store:
        run = store.start_run("check")
        report = run_checks(
            model,
            x,
            methods=["gradient"],
            metrics=[metric],
            seed=0,
            data_name="d",
            variant="function",
            targets=other,
            store=store,
            run_id=run,
        )
        assert report.results[0].ok, report.results[0].reason
        (cell,) = store.cells(run, kind="check")
    assert cell.metrics["targets"] == other.tolist()
