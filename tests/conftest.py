"""Shared test set-up: TF backend, quiet logs, and a private cache per session."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_caches(tmp_path_factory):
    """Keep Keras from finding (or writing) weights in the user's ~/.keras, and keep
    the project's model cache (ported Lite0, trained synthetic CNN) per test session."""
    saved = {k: os.environ.get(k) for k in ("KERAS_HOME", "SALIENCY_BENCH_CACHE")}
    os.environ["KERAS_HOME"] = str(tmp_path_factory.mktemp("keras_home"))
    os.environ["SALIENCY_BENCH_CACHE"] = str(tmp_path_factory.mktemp("saliency_bench_cache"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
