"""Without Ray, ``--executor ray`` is one line naming the install command, exit 2."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--model", "M", "--data", "photos", "--executor", "ray"],
        ["run", "quick", "--executor", "ray"],
    ],
)
def test_executor_ray_without_ray_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, command):
    from saliency_core.cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    assert main(command + ["--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.endswith(
        '--executor ray: Ray is not installed; install it with: pip install "saliency-bench[ray]"'
    ), err
