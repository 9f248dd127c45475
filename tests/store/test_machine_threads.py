"""Thread settings and the oneDNN flag in every run's machine metadata, and the command
line's thread options applied in a fresh process (TensorFlow fixes its pools at start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from saliency_core.harness.machine_diff import _differences
from saliency_core.store.machine import machine_info

SCRIPT = """
import json, os
from saliency_core.devices import configure_threads
applied = configure_threads(1, 2)
from saliency_core.store.machine import machine_info
info = machine_info(detect_gpus=True)
print(json.dumps({"applied": applied, "threads": info["tf_threads"],
                  "opts": info["onednn_opts"], "onednn": info["onednn_enabled"]}))
"""


def test_configured_threads_and_onednn_flag_are_recorded_in_a_fresh_process():
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["applied"] == {"intra_op": 1, "inter_op": 2}
    assert out["threads"]["intra_op"] == 1 and out["threads"]["inter_op"] == 2
    # written to the environment for processes started later (fresh-process cells)
    assert out["threads"]["env"]["TF_NUM_INTRAOP_THREADS"] == "1"
    assert out["threads"]["env"]["TF_NUM_INTEROP_THREADS"] == "2"
    assert out["opts"] == "0" and out["onednn"] is False  # "0" forces oneDNN off


def test_thread_counts_from_the_environment_and_bad_values(monkeypatch):
    from saliency_core.devices import configure_threads

    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    assert configure_threads() == {"intra_op": None, "inter_op": None}  # nothing to apply
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "two")
    with pytest.raises(ValueError, match="TF_NUM_INTRAOP_THREADS='two'"):
        configure_threads()
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")
    with pytest.raises(ValueError, match="inter_op threads must be >= 0"):
        configure_threads(inter_op=-1)


def test_metadata_without_tensorflow_has_the_keys(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    info = machine_info(detect_gpus=False)
    assert info["onednn_opts"] == "1"
    assert set(info["tf_threads"]) == {"intra_op", "inter_op", "env"}
    json.dumps(info)


def test_thread_and_onednn_differences_warn_only_when_both_runs_recorded_them():
    old = {"cpu_model": "x"}  # a run from before these fields existed
    new = {
        "cpu_model": "x",
        "onednn_opts": "1",
        "onednn_enabled": True,
        "tf_threads": {"intra_op": 0, "inter_op": 0},
    }
    assert _differences(old, new) == []
    other = {**new, "onednn_opts": "0", "onednn_enabled": False, "tf_threads": {"intra_op": 1, "inter_op": 0}}
    diff = _differences(new, other)
    assert "TF_ENABLE_ONEDNN_OPTS ('1' vs '0')" in diff
    assert "oneDNN on (True vs False)" in diff and "intra-op threads (0 vs 1)" in diff
