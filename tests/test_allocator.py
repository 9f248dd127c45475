"""The malloc settings that keep a long check's C heap bounded."""

import json
import os
import subprocess
import sys

import pytest

from saliency_core.allocator import ARENA_MAX, tune_allocator

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc only",
)

PROBE = (
    "import json, os; from saliency_core.allocator import tune_allocator; "
    "from saliency_core.store.machine import machine_info; "
    "applied = tune_allocator(); "
    "print(json.dumps([applied, machine_info(detect_gpus=False)['malloc_arena_max']]))"
)


def _run(env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_applied_to_the_process_and_recorded_for_its_children():
    applied, recorded = _run({})
    assert applied == {"allocator": "glibc", "arena_max": ARENA_MAX}
    assert recorded == str(ARENA_MAX)


@glibc
def test_values_the_user_set_are_kept():
    applied, recorded = _run({"MALLOC_ARENA_MAX": "5"})
    assert applied["arena_max"] == 5 and recorded == "5"


def test_a_bad_value_is_refused():
    with pytest.raises(ValueError, match="arena_max must be >= 1"):
        tune_allocator(0)
