"""The suite's own setup (tests/conftest.py): its XLA flags are in the environment this
process started JAX with and its subprocesses inherit, a user's own flags win, flags a
jaxlib does not know are caught before use, and a bad mode is refused with the valid ones."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import FAST_XLA_FLAGS, xla_accepts, xla_flags

ROOT = Path(__file__).resolve().parents[1]


def test_fast_flags_are_added_without_overriding_the_users():
    mine = "--xla_force_host_platform_device_count=2 --xla_backend_optimization_level=2"
    fast = xla_flags("fast", mine).split()
    assert fast[:2] == mine.split()  # the user's flags first, their values kept
    assert "--xla_backend_optimization_level=0" not in fast
    assert set(FAST_XLA_FLAGS[1:]) <= set(fast)
    assert xla_flags("fast", xla_flags("fast", "")) == xla_flags("fast", "")  # idempotent
    assert xla_flags("default", " ".join(fast)) == "--xla_force_host_platform_device_count=2"


def test_this_session_runs_in_the_mode_it_names():
    flags = os.environ["XLA_FLAGS"].split()
    mode = os.environ["JAXMARL_LITE_TEST_XLA"]
    names = {f.split("=")[0] for f in flags}
    assert all((f.split("=")[0] in names) == (mode == "fast") for f in FAST_XLA_FLAGS), flags


def test_a_bad_mode_is_refused_naming_the_valid_ones():
    env = dict(os.environ, JAXMARL_LITE_TEST_XLA="quick")
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-o",
                          "addopts=", "-p", "no:cacheprovider", "tests/test_stats.py"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode != 0
    assert "JAXMARL_LITE_TEST_XLA must be 'fast' or 'default', got 'quick'" in (
        out.stdout + out.stderr)


def test_flags_this_jaxlib_does_not_know_are_detected_before_use():
    """(XLA aborts a process on an unknown flag; the suite then falls back to the defaults.)"""
    assert not xla_accepts("--xla_no_such_flag_here=true")
