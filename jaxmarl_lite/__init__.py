"""jaxmarl-lite: vectorised multi-agent RL in JAX (pure reset/step envs, compiled training)."""
import os as _os

# XLA:CPU's multi-threaded Eigen pool sporadically deadlocks on vmapped training graphs
# (jax 0.10; a run hangs in block_until_ready with idle cores). Single-threaded Eigen avoids
# it; XLA still runs independent ops in parallel. Takes effect only if set before jax
# starts its CPU backend; set JAXMARL_LITE_KEEP_XLA_FLAGS=1 to leave XLA_FLAGS alone.
if not _os.environ.get("JAXMARL_LITE_KEEP_XLA_FLAGS") and "xla_cpu_multi_thread_eigen" not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = (_os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
from jaxmarl_lite import envs as _envs  # noqa: F401  (registers the built-in envs)
from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.registry import make, register, registered_envs
from jaxmarl_lite.spaces import Box, Discrete, MultiDiscrete
from jaxmarl_lite.wrappers import CheckedEnv, EpisodeStats, VecEnv

__version__ = "0.1.0"

__all__ = [
    "Box",
    "CheckedEnv",
    "Discrete",
    "EpisodeStats",
    "MultiAgentEnv",
    "MultiDiscrete",
    "VecEnv",
    "make",
    "register",
    "registered_envs",
]
