"""jaxmarl-lite: vectorised multi-agent RL in JAX (pure reset/step envs, compiled training)."""
from jaxmarl_lite import envs as _envs  # noqa: F401  (registers the built-in envs)
from jaxmarl_lite.checks import ContractError, check_env
from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.registry import make, register, registered_envs
from jaxmarl_lite.spaces import Box, Discrete, MultiDiscrete
from jaxmarl_lite.wrappers import CheckedEnv, EpisodeStats, VecEnv

__version__ = "0.1.0"

__all__ = [
    "Box",
    "CheckedEnv",
    "ContractError",
    "Discrete",
    "EpisodeStats",
    "MultiAgentEnv",
    "MultiDiscrete",
    "VecEnv",
    "check_env",
    "make",
    "register",
    "registered_envs",
]
