"""The public packages: importing them loads no TensorFlow and writes nothing, and
every name in their ``__all__`` exists."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [
    "saliency_core",
    "saliency_core.checks",
    "saliency_core.data",
    "saliency_core.harness",
    "saliency_core.store",
    "saliency_core.report",
]


def test_importing_the_packages_loads_no_tensorflow_and_writes_nothing(tmp_path):
    code = (
        "import os, sys\n"
        f"for name in {PACKAGES!r}: __import__(name)\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules), "
        "sorted(os.listdir('.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[] []"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_exists(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == [] and len(set(exported)) == len(exported)
