"""Test-session setup: fast-compiling XLA flags and one persistent compilation cache.

Compiling dominates this suite (tiny shapes, many programs), so by default the tests compile
with XLA's quick settings (``FAST_XLA_FLAGS``: LLVM at -O0, no expensive LLVM passes, the
CPU's classic fusion emitters): about half the suite's time on 2 cores, with the same
operations and results up to float rounding. Every comparison inside the suite runs
both sides under the same flags; the few tests whose claim is bitwise identity of two
*different* compiled programs under the flags users run, and the few long runs where
optimised code pays for its compile (marked ``xla_default``), re-run themselves in a
subprocess with XLA's defaults. ``JAXMARL_LITE_TEST_XLA=default`` runs the
whole suite with XLA's defaults instead.

Many tests compile the same program more than once (a full run, an interrupted one and its
resume; the two processes of a multi-process run; CLI subprocesses): with JAX's persistent
cache the later compiles are loads. The directory is fresh per session (nothing carries over
between CI runs) and subprocesses inherit it through ``JAX_COMPILATION_CACHE_DIR``, as they
inherit the XLA flags through ``XLA_FLAGS``.
"""
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pytest

FAST_XLA_FLAGS = ("--xla_backend_optimization_level=0",
                  "--xla_llvm_disable_expensive_passes=true",
                  "--xla_cpu_use_fusion_emitters=false")
_MODE = os.environ.setdefault("JAXMARL_LITE_TEST_XLA", "fast")
if _MODE not in ("fast", "default"):
    raise ValueError(f"JAXMARL_LITE_TEST_XLA must be 'fast' or 'default', got {_MODE!r}")


def xla_flags(mode: str, flags: str) -> str:
    """``flags`` (an ``XLA_FLAGS`` value) with the fast flags added (``mode='fast'``; a flag
    the user already set keeps the user's value) or removed (``'default'``)."""
    name = lambda f: f.split("=")[0]  # noqa: E731
    if mode == "default":
        return " ".join(f for f in flags.split() if name(f) not in set(map(name, FAST_XLA_FLAGS)))
    given = set(map(name, flags.split()))
    return " ".join(flags.split() + [f for f in FAST_XLA_FLAGS if name(f) not in given])


def xla_accepts(flags: str) -> bool:
    """XLA aborts a process on a flag it does not know (flags come and go between jaxlib
    versions): try them in a subprocess once per session (the workers inherit the result)."""
    out = subprocess.run([sys.executable, "-c", "import jax; jax.devices()"],
                         env=dict(os.environ, XLA_FLAGS=flags), capture_output=True,
                         timeout=300)
    return out.returncode == 0


# before JAX starts its backend (XLA reads XLA_FLAGS once, when the first client starts)
_flags = xla_flags(_MODE, os.environ.get("XLA_FLAGS", ""))
if _MODE == "fast" and _flags != os.environ.get("XLA_FLAGS", "") and not xla_accepts(_flags):
    warnings.warn(f"this jaxlib refuses the suite's fast XLA flags {FAST_XLA_FLAGS}: "
                  "running with XLA's defaults", RuntimeWarning, stacklevel=1)
    _MODE = os.environ["JAXMARL_LITE_TEST_XLA"] = "default"
    _flags = xla_flags(_MODE, os.environ.get("XLA_FLAGS", ""))
os.environ["XLA_FLAGS"] = _flags

import jax  # noqa: E402

_CACHE = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                               tempfile.mkdtemp(prefix="jaxmarl-lite-xla-cache-"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "xla_default: run with XLA's default flags (in a subprocess when the "
        "suite compiles with its fast flags): a claim of bitwise identity between two "
        "different programs, or a long run where optimised code pays for its compile")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if _MODE == "default" or pyfuncitem.get_closest_marker("xla_default") is None:
        return None
    env = dict(os.environ, JAXMARL_LITE_TEST_XLA="default",
               XLA_FLAGS=xla_flags("default", os.environ.get("XLA_FLAGS", "")))
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "pytest", pyfuncitem.nodeid, "-p",
                          "no:cacheprovider", "-o", "addopts=", "-q"],
                         capture_output=True, text=True, cwd=root, env=env, timeout=900)
    if out.returncode != 0 or not re.search(r"\b1 passed\b", out.stdout):
        pytest.fail(f"with XLA's default flags (a subprocess):\n{out.stdout[-4000:]}"
                    f"\n{out.stderr[-2000:]}", pytrace=False)
    return True
