"""Test-session setup: one persistent XLA compilation cache for the whole session.

Many tests compile the same program more than once (a full run, an interrupted one and its
resume; the two processes of a multi-process run; CLI subprocesses): with JAX's persistent
cache the later compiles are loads. The directory is fresh per session (nothing carries over
between CI runs) and subprocesses inherit it through ``JAX_COMPILATION_CACHE_DIR``.
"""
import os
import tempfile

import jax

_CACHE = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                               tempfile.mkdtemp(prefix="jaxmarl-lite-xla-cache-"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
