"""PettingZoo adapters, both ways (``pip install "jaxmarl-lite[pettingzoo]"``).

* :func:`to_pettingzoo`: our env as a ``pettingzoo.ParallelEnv``: agents named
  ``env.agents``, gymnasium spaces and observations of each agent's true (unpadded) size,
  no auto-reset (agents leave ``.agents`` when done), ``infos[agent]["action_mask"]``
  (int8) for envs with state-dependent masks.
* :func:`to_pettingzoo_aec`: a turn-based env (e.g. ``tictactoe``) as a ``pettingzoo.AECEnv``
  with ``{"observation", "action_mask"}`` observations (tic-tac-toe: ``tictactoe_v3``'s
  ``[3, 3, 2]`` int8 planes, the observer's own marks first).
* :func:`from_pettingzoo`: a ``ParallelEnv`` factory as our :class:`PettingZooEnv`, stepping
  host copies behind ``jax.pure_callback`` so that it runs inside ``jit`` and ``vmap``.

The first two draw randomness from a JAX key sequence: ``reset(seed=s)`` restarts it from
``PRNGKey(s)`` (all later steps are then determined by ``s``), ``reset()`` continues it
(starting from the constructor's ``seed``, else from OS entropy); never NumPy's global RNG.
Importing this module needs neither pettingzoo nor gymnasium.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import secrets
import threading
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.interop import require
from jaxmarl_lite.spaces import Box, Discrete


def _peers():
    return require("pettingzoo", "pettingzoo"), require("gymnasium", "pettingzoo")


def _overrides(env: Any, name: str) -> bool:
    return getattr(type(getattr(env, "unwrapped", env)), name) is not getattr(MultiAgentEnv, name)


# ============================================================ our env -> PettingZoo
@functools.partial(jax.jit, static_argnums=0)  # compiled once per (hashable) env config
def _jit_reset(env, key):
    key, sub = jax.random.split(key)
    obs, state = env.reset_env(sub)
    return key, state, (obs, env.action_mask(state), env.global_state(state))


@functools.partial(jax.jit, static_argnums=0)
def _jit_step(env, key, state, actions):
    key, sub = jax.random.split(key)
    obs, state, reward, term, trunc, info = env.step_env(sub, state, env.check_actions(actions))
    views = (obs, env.action_mask(state), env.global_state(state))
    return key, state, views, (reward, term, trunc, info)


class _Adapter:
    """Shared by both adapters: drives our env from the host (key sequence, state, NumPy
    views of it) and answers the space/state/render/close queries."""

    def _setup(self, env, render_mode, seed, obs_spaces=None):
        _, gym = _peers()
        if not isinstance(env, MultiAgentEnv):
            raise TypeError(f"expected a jaxmarl_lite MultiAgentEnv (e.g. jl.make('grid_meet')), "
                            f"got {env!r}")
        self._env, self._state, self.agents = env, None, []
        self.possible_agents = list(env.agents)
        modes = ["rgb_array"] if _overrides(env, "render") else []
        if render_mode is not None and render_mode not in modes:
            raise ValueError(f"render_mode {render_mode!r} is not supported by {type(env).__name__} "
                             f"(supported: {modes + [None]})")
        self.render_mode, self._masked = render_mode, env.is_discrete and _overrides(env, "action_mask")
        self._key = jax.random.PRNGKey(secrets.randbits(32) if seed is None else int(seed))
        box, act = env.observation_space, env.action_space
        self.observation_spaces = dict(zip(self.possible_agents, obs_spaces or [
            gym.spaces.Box(box.low, box.high, (d,), np.float32) for d in env.obs_sizes]))
        self.action_spaces = dict(zip(self.possible_agents, [
            gym.spaces.Discrete(n) if env.is_discrete
            else gym.spaces.Box(act.low, act.high, (n,), np.float32) for n in env.action_sizes]))
        self.metadata = {"name": f"jaxmarl_lite/{type(env).__name__}", "render_modes": modes,
                         "is_parallelizable": obs_spaces is None}

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def _reset(self, seed: Optional[int]) -> None:
        if seed is not None:
            self._key = jax.random.PRNGKey(int(seed))
        self._key, self._state, views = _jit_reset(self._env, self._key)
        self._obs, self._mask, self._gstate = jax.device_get(views)

    def _step(self, actions: Dict[str, Any]):
        """Step with checked actions by agent name (absent agents send 0)."""
        env = self._env
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        array = np.zeros((env.num_agents,) + env.action_space.shape, env.action_space.dtype)
        for name, action in actions.items():
            i = self.possible_agents.index(name)
            space, value = self.action_spaces[name], np.asarray(action)
            ok = value.dtype.kind in ("iu" if env.is_discrete else "iuf")
            if not (ok and space.contains(value.astype(space.dtype))):
                raise ValueError(f"action {action!r} of agent {name!r} is not in its action "
                                 f"space {space}")
            array[i] = np.pad(value, (0, env.num_actions - value.size)) if value.ndim else value
        self._key, self._state, views, out = _jit_step(env, self._key, self._state, array)
        self._obs, self._mask, self._gstate = jax.device_get(views)
        return jax.device_get(out)

    def _obs_of(self, i: int) -> np.ndarray:
        return np.array(self._obs[i, : self._env.obs_sizes[i]], np.float32)

    def _mask_of(self, i: int) -> np.ndarray:
        return (self._mask[i, : self._env.action_sizes[i]] > 0).astype(np.int8)

    def _info_of(self, i: int, info: Dict[str, Any], mask: bool = True) -> Dict[str, Any]:
        """Agent ``i``'s entries of ``info`` (arrays with a leading agent axis), its mask."""
        out = {k: np.asarray(v)[i].item() for k, v in info.items()
               if np.ndim(v) == 1 and np.shape(v)[0] == len(self.possible_agents)}
        return {**out, "action_mask": self._mask_of(i)} if self._masked and mask else out

    def state(self):
        return np.asarray(self._gstate, np.float32)

    def render(self):
        if self.render_mode is None:
            warnings.warn("render() called without render_mode='rgb_array'; returning None")
            return None
        if self._state is None:
            raise RuntimeError("call reset() before render()")
        return np.asarray(self._env.render(self._state), np.uint8)

    def close(self):
        pass


class _ParallelAdapter(_Adapter):
    def __init__(self, env, render_mode=None, seed=None):
        self._setup(env, render_mode, seed)
        try:
            self.max_episode_steps = int(env.max_episode_steps)  # read by from_pettingzoo
        except NotImplementedError:
            pass

    def reset(self, seed=None, options=None):
        self._reset(seed)
        self.agents = list(self.possible_agents)
        return ({a: self._obs_of(i) for i, a in enumerate(self.agents)},
                {a: self._info_of(i, {}) for i, a in enumerate(self.agents)})

    def step(self, actions):
        live = list(self.agents)
        if not live:
            raise RuntimeError("the episode is over (no agents left): call reset()")
        unknown = [a for a in actions if a not in self.possible_agents]
        missing = [a for a in live if a not in actions]
        if unknown or missing:
            raise ValueError(f"step needs one action per live agent {live}; missing {missing}, "
                             f"unknown {unknown}")
        reward, term, trunc, info = self._step({a: actions[a] for a in live})
        idx = {a: self.possible_agents.index(a) for a in live}
        terms = {a: bool(term[i]) for a, i in idx.items()}
        truncs = {a: bool(trunc[i]) for a, i in idx.items()}
        self.agents = [a for a in live if not (terms[a] or truncs[a])]
        return ({a: self._obs_of(i) for a, i in idx.items()},
                {a: float(reward[i]) for a, i in idx.items()}, terms, truncs,
                {a: self._info_of(i, info) for a, i in idx.items()})


class _AECAdapter(_Adapter):
    """The agent to move is the one whose ``action_mask`` row has a legal action; once
    the game is over, the next agent in order (as ``tictactoe_v3``)."""

    def __init__(self, env, render_mode=None, seed=None):
        _, gym = _peers()
        from jaxmarl_lite.envs.tictactoe import TicTacToe
        tictactoe = isinstance(getattr(env, "unwrapped", env), TicTacToe)
        self._shapes = [(3, 3, 2) if tictactoe else (d,) for d in env.obs_sizes]
        self._dtype, box = np.dtype(np.int8 if tictactoe else np.float32), env.observation_space
        self._setup(env, render_mode, seed, [gym.spaces.Dict({
            "observation": gym.spaces.Box(box.low, box.high, shape, self._dtype),
            "action_mask": gym.spaces.Box(0, 1, (n,), np.int8)})
            for shape, n in zip(self._shapes, env.action_sizes)])
        if not self._masked:
            raise TypeError(f"{type(env).__name__} has no state-dependent action_mask, so it is not "
                            "turn-based: use to_pettingzoo")

    def _mover(self, after: Optional[str]) -> str:
        movers = [a for i, a in enumerate(self.possible_agents) if self._mask[i].any()]
        if len(movers) > 1:
            raise ValueError(f"not a turn-based env: {movers} all have legal actions at once")
        i = self.possible_agents.index(after) if after is not None else -1
        return movers[0] if movers else self.possible_agents[(i + 1) % len(self.possible_agents)]

    def reset(self, seed=None, options=None):
        self._reset(seed)
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {a: {} for a in self.agents}
        self._skip_agent_selection = None
        self.agent_selection = self._mover(None)

    def observe(self, agent):
        i = self.possible_agents.index(agent)
        obs = self._obs_of(i).reshape(self._shapes[i]).astype(self._dtype)
        return {"observation": obs, "action_mask": self._mask_of(i)}

    def step(self, action):
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            return self._was_dead_step(action)
        reward, term, trunc, info = self._step({agent: action})
        self._cumulative_rewards[agent] = 0.0
        for a in self.agents:
            i = self.possible_agents.index(a)
            self.rewards[a], self.terminations[a] = float(reward[i]), bool(term[i])
            self.truncations[a], self.infos[a] = bool(trunc[i]), self._info_of(i, info, mask=False)
        self._accumulate_rewards()
        self.agent_selection = self._mover(agent)


@functools.lru_cache(maxsize=None)
def _classes(pz) -> Tuple[type, type]:
    return (type("JaxParallelEnv", (_ParallelAdapter, pz.ParallelEnv), {"__module__": __name__}),
            type("JaxAECEnv", (_AECAdapter, pz.AECEnv), {"__module__": __name__}))


def to_pettingzoo(env: MultiAgentEnv, render_mode: Optional[str] = None, seed: Optional[int] = None):
    """``env`` as a ``pettingzoo.ParallelEnv`` (``render_mode``: None or "rgb_array")."""
    return _classes(_peers()[0])[0](env, render_mode=render_mode, seed=seed)


def to_pettingzoo_aec(env: MultiAgentEnv, render_mode: Optional[str] = None, seed: Optional[int] = None):
    """A turn-based ``env`` as a ``pettingzoo.AECEnv``. Unlike ``tictactoe_v3``, an illegal
    move only terminates (no truncation flag), and once the game is over all masks are 0."""
    return _classes(_peers()[0])[1](env, render_mode=render_mode, seed=seed)


# ============================================================ PettingZoo -> our env
@struct.dataclass
class HostState:
    """A handle to a host copy plus the JAX-side views; host copies cannot branch or
    rewind, so each state can be stepped once (a stale one raises)."""

    seed: jax.Array  # [] int32 host reset seed, drawn from the reset key
    t: jax.Array  # [] int32 steps taken
    episode: jax.Array  # [] int32 host episode handle (-1 until the first step)
    mask: jax.Array  # [num_agents, num_actions] float32
    gstate: jax.Array  # [state_dim] float32


@dataclasses.dataclass(frozen=True)
class HostSpec:
    """Static facts probed from one host copy (continuous bounds are scalars)."""

    name: str
    agents: Tuple[str, ...]
    obs_sizes: Tuple[int, ...]
    action_sizes: Tuple[int, ...]
    discrete: bool
    low: float
    high: float
    state_dim: int
    state_of: Optional[Callable[[Any], Any]]  # host env -> global state; None: the observations
    max_steps: int


def _obs_part(gym, space, obs=None):
    """The ``observation`` part of a dict observation ``{"observation", "action_mask"}``."""
    if isinstance(space, gym.spaces.Dict) and "observation" in space.spaces:
        return space["observation"], None if obs is None else obs["observation"]
    return space, obs


class _HostPool:
    """One :class:`PettingZooEnv`'s host copies: free ones and live episodes (the oldest
    live episodes are dropped beyond ``4 * largest batch + 16``)."""

    def __init__(self, make_env: Callable[[], Any], spec: HostSpec, envs: List[Any]):
        self.make_env, self.spec, self.free, self.batch = make_env, spec, envs, len(envs)
        self.live: Dict[int, List[Any]] = {}  # episode -> [env, steps taken], oldest first
        self.ids, self.lock = itertools.count(), threading.Lock()

    def _views(self, env, obs, infos, live):
        spec, (_, gym) = self.spec, _peers()
        out = np.zeros((len(spec.agents), max(spec.obs_sizes)), np.float32)
        sizes = np.asarray(spec.action_sizes)[:, None]
        mask = (np.arange(max(spec.action_sizes)) < sizes).astype(np.float32)
        for i, a in enumerate(spec.agents):
            if a in live and a in obs:
                space, o = _obs_part(gym, env.observation_space(a), obs[a])
                out[i, : spec.obs_sizes[i]] = gym.spaces.flatten(space, o)
                m = obs[a].get("action_mask") if isinstance(obs[a], dict) else None
                m = (infos.get(a) or {}).get("action_mask") if m is None else m
                if m is not None and spec.discrete:
                    mask[i] = np.pad(np.ravel(m), (0, mask.shape[1] - np.size(m))) > 0
        gstate = (np.asarray(spec.state_of(env), np.float32).ravel() if spec.state_of else
                  np.concatenate([out[i, :d] for i, d in enumerate(spec.obs_sizes)]))
        if gstate.shape != (spec.state_dim,):
            raise ValueError(f"from_pettingzoo: the global state has {gstate.size} values, the "
                             f"first one had {spec.state_dim}; global_state must keep one size")
        return out, mask, gstate

    def _start(self, seed):
        env = self.free.pop() if self.free else self.make_env()
        obs, infos = env.reset(seed=int(seed))
        return env, obs, infos

    def reset(self, seed):
        env, obs, infos = self._start(seed)
        self.free.append(env)
        return self._views(env, obs, infos, env.agents)

    def step(self, seed, t, episode, actions, reset_seed):
        """One host step; where it ends the episode, also the reset views of ``reset_seed``
        (a free copy is reset then; elsewhere zeros: the caller keeps them only at an end)."""
        spec, t, episode = self.spec, int(t), int(episode)
        if t == 0:  # the first step replays the reset (deterministic in seed) on a free copy
            env, episode = self._start(seed)[0], next(self.ids) % 2**31
        else:
            env, steps = self.live.pop(episode, (None, None))
            if steps != t:
                raise RuntimeError(f"PettingZooEnv: the state of host episode {episode} at step {t} "
                                   "was already stepped or is stale (host copies cannot branch or "
                                   "rewind: step each state once)")
        live = list(env.agents)
        acts = {}
        for a in live:
            i, space = spec.agents.index(a), env.action_space(a)
            acts[a] = (int(np.clip(actions[i], 0, space.n - 1) + space.start) if spec.discrete else
                       np.clip(actions[i, : space.shape[0]], space.low, space.high).astype(space.dtype))
        obs, rew, term, trunc, infos = env.step(acts)
        reward = np.array([float(rew.get(a, 0.0)) if a in live else 0.0 for a in spec.agents],
                          np.float32)
        terminated = np.array([a not in live or bool(term.get(a, a not in obs)) for a in spec.agents])
        truncated = np.array([a in live and bool(trunc.get(a, False)) for a in spec.agents])
        views = self._views(env, obs, infos, live)
        running = ~(terminated | truncated)
        terminated |= running & (not env.agents)  # the host ended the episode
        truncated |= running & bool(env.agents) & (t + 1 >= spec.max_steps)  # our time limit
        if np.all(terminated | truncated):
            self.free.append(env)
            reset_views = self.reset(reset_seed)
        else:
            reset_views = tuple(np.zeros_like(v) for v in views)
            self.live[episode] = [env, t + 1]
            while len(self.live) > 4 * self.batch + 16:  # abandoned episodes: recycle the oldest
                self.free.append(self.live.pop(next(iter(self.live)))[0])
        return (*views, reward, terminated, truncated, np.int32(episode), *reset_views)

    def call(self, method: str, *args):
        """``method`` per batch row: ``vmap_method="broadcast_all"`` gives every argument the
        same leading batch dims (none when unbatched)."""
        batch = np.shape(args[0])
        rows = [np.asarray(a).reshape((-1,) + np.shape(a)[len(batch):]) for a in args]
        with self.lock:
            self.batch = max(self.batch, len(rows[0]))
            outs = [getattr(self, method)(*row) for row in zip(*rows)]
        return tuple(np.stack(col).reshape(batch + np.shape(col[0])) for col in zip(*outs))


_POOLS: Dict[int, _HostPool] = {}  # host copies, outside the hashable env dataclass
_UIDS = itertools.count()


def _host_call(uid: int, method: str, *args):
    if uid not in _POOLS:
        raise RuntimeError(f"PettingZooEnv {uid} was closed; its host copies are gone")
    return _POOLS[uid].call(method, *args)


@dataclasses.dataclass(frozen=True)
class PettingZooEnv(MultiAgentEnv):
    """A PettingZoo ``ParallelEnv`` as our env (build it with :func:`from_pettingzoo`).

    ``jax.pure_callback(..., vmap_method="broadcast_all")``: under ``vmap`` the callback
    runs once per step with every argument tiled to the batch, so row ``b`` names env
    ``b``'s own host copy and B envs step B host copies in one call ("expand_dims" would
    leave unbatched arguments at size 1 for the callback to broadcast; "sequential" would
    call it B times). The step callback is impure (it advances the host copy named by the
    state): step each state once, and keep it out of ``lax.cond`` branches under ``vmap``
    (both would run). The auto-reset rides in the step's callback (:meth:`step_and_reset`):
    a host copy is reset only where a step ends its episode, not at every step.
    """

    make_env: Callable[[], Any]
    spec: HostSpec
    uid: int  # key of this env's host copies in the module registry

    num_agents = property(lambda self: len(self.spec.agents))
    agents = property(lambda self: self.spec.agents)
    obs_sizes = property(lambda self: self.spec.obs_sizes)
    action_sizes = property(lambda self: self.spec.action_sizes)
    max_episode_steps = property(lambda self: self.spec.max_steps)
    state_dim = property(lambda self: self.spec.state_dim)

    @property
    def observation_space(self) -> Box:
        return Box(-float("inf"), float("inf"), (max(self.spec.obs_sizes),))

    @property
    def action_space(self) -> Discrete | Box:
        n = max(self.spec.action_sizes)
        return Discrete(n) if self.spec.discrete else Box(self.spec.low, self.spec.high, (n,))

    def _views(self):
        """Shapes of the host's ``(obs, mask, global state)`` views."""
        return (jax.ShapeDtypeStruct((self.num_agents, self.obs_dim), jnp.float32),
                jax.ShapeDtypeStruct((self.num_agents, self.num_actions), jnp.float32),
                jax.ShapeDtypeStruct((self.state_dim,), jnp.float32))

    def _callback(self, method, shapes, *args):
        return jax.pure_callback(functools.partial(_host_call, self.uid, method), shapes,
                                 *args, vmap_method="broadcast_all")

    @staticmethod
    def _seed(key):
        """The host reset seed drawn from a reset key (a non-negative int32)."""
        return (jax.random.bits(key, (), jnp.uint32) >> 1).astype(jnp.int32)

    @staticmethod
    def _start_state(seed, obs, mask, gstate):
        zero = jnp.zeros((), jnp.int32)
        return obs, HostState(seed=seed, t=zero, episode=zero - 1, mask=mask, gstate=gstate)

    def reset_env(self, key):
        seed = self._seed(key)
        return self._start_state(seed, *self._callback("reset", self._views(), seed))

    def step_and_reset(self, key_step, key_reset, state, actions):
        """One callback steps the host copy and, where that ends the episode, resets a copy
        with ``reset_env(key_reset)``'s seed (elsewhere the reset half is zeros)."""
        del key_step  # the host env's own randomness comes from its reset seed
        actions = jnp.asarray(actions, jnp.int32 if self.spec.discrete else jnp.float32)
        flags = jax.ShapeDtypeStruct((self.num_agents,), jnp.bool_)
        shapes = (*self._views(), jax.ShapeDtypeStruct((self.num_agents,), jnp.float32), flags,
                  flags, jax.ShapeDtypeStruct((), jnp.int32), *self._views())
        reset_seed = self._seed(key_reset)
        out = self._callback("step", shapes, state.seed, state.t, state.episode, actions,
                             reset_seed)
        obs, mask, gstate, reward, term, trunc, episode = out[:7]
        step = (obs, HostState(state.seed, state.t + 1, episode, mask, gstate), reward, term,
                trunc, {})
        return step, self._start_state(reset_seed, *out[7:])

    def step_env(self, key, state, actions):
        """A step without the reset half (the auto-resetting ``step`` uses
        :meth:`step_and_reset`; this one hands the host a reset seed it never uses)."""
        return self.step_and_reset(key, key, state, actions)[0]

    def global_state(self, state: HostState) -> jax.Array:
        return state.gstate

    def action_mask(self, state: HostState) -> jax.Array:
        return state.mask

    def close(self) -> None:
        """Close and forget the host copies (the env cannot be used afterwards)."""
        pool = _POOLS.pop(self.uid, None)
        for env in (pool.free + [e for e, _ in pool.live.values()]) if pool else ():
            env.close()


def _max_steps(env: Any, given: Any) -> int:
    if given is None:
        for obj, attr in itertools.product((env, getattr(env, "unwrapped", env)),
                                           ("max_cycles", "max_episode_steps")):
            if isinstance(getattr(obj, attr, None), (int, np.integer)):
                return int(getattr(obj, attr))
        raise ValueError(f"from_pettingzoo: {type(env).__name__} has no max_cycles or "
                         "max_episode_steps attribute; pass max_episode_steps=<episode length>")
    if not isinstance(given, (int, np.integer)) or isinstance(given, bool) or given < 1:
        raise ValueError(f"from_pettingzoo: max_episode_steps must be an int >= 1, got {given!r}")
    return int(given)


def _state_source(probe: Any, global_state: Any) -> Optional[Callable[[Any], Any]]:
    """``global_state`` as a host function (``None``: the concatenated observations)."""
    if callable(global_state):
        return global_state
    if global_state not in ("auto", "env", "observations"):
        raise ValueError("from_pettingzoo: global_state must be 'auto', 'env', 'observations' "
                         f"or a function of the host env, got {global_state!r}")
    if global_state == "observations":
        return None
    try:
        probe.state()
    except NotImplementedError:
        if global_state == "env":
            raise ValueError(f"from_pettingzoo: global_state='env' but {type(probe).__name__} "
                             "does not implement state(); use 'auto' or 'observations'") from None
        return None
    return lambda env: env.state()


def from_pettingzoo(make_env: Callable[[], Any], num_envs: int = 1,
                    max_episode_steps: Optional[int] = None, name: Optional[str] = None,
                    global_state: Any = "auto") -> PettingZooEnv:
    """A ``pettingzoo.ParallelEnv`` factory as our :class:`PettingZooEnv` (an AEC env:
    ``lambda: pettingzoo.utils.conversions.aec_to_parallel(make_aec())``).

    Agents stacked in ``possible_agents`` order; observations flattened and zero-padded;
    discrete actions padded, with ``action_mask`` from the env's observation/info masks
    (else the true counts); ``global_state`` is the env's ``state()`` when it has one, else
    the concatenated observations (``global_state``: ``"auto"`` that choice, ``"env"`` the
    env's ``state()``, ``"observations"`` the concatenated observations, or a function of
    the host env returning an array of one size, e.g. a downsampled ``state()`` image).
    Agents gone mid-episode get zero observations and
    rewards and count as terminated. Host resets are seeded from the reset key (equal keys,
    equal episodes). ``num_envs`` host copies are built up front (more when a batch needs
    them). ``max_episode_steps`` (default: the env's ``max_cycles`` or ``max_episode_steps``)
    truncates longer episodes.
    """
    pz, gym = _peers()
    if not callable(make_env):
        raise TypeError("from_pettingzoo needs a factory that builds the env (e.g. "
                        f"`simple_spread_v3.parallel_env` or `lambda: my_env()`), got {make_env!r}")
    if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"from_pettingzoo: num_envs must be an int >= 1, got {num_envs!r}")
    probe = make_env()
    if not isinstance(probe, pz.ParallelEnv):
        hint = " (convert AEC envs with pettingzoo.utils.conversions.aec_to_parallel)"
        raise TypeError(f"from_pettingzoo: the factory built a {type(probe).__name__}, not a "
                        f"pettingzoo.ParallelEnv{hint if isinstance(probe, pz.AECEnv) else ''}")
    agents = tuple(probe.possible_agents)
    acts = [probe.action_space(a) for a in agents]
    discrete = all(isinstance(s, gym.spaces.Discrete) for s in acts)
    if not discrete and not all(isinstance(s, gym.spaces.Box) and len(s.shape) == 1 for s in acts):
        raise TypeError(f"from_pettingzoo needs all-Discrete or all-1-D-Box action spaces, got {acts}")
    max_steps = _max_steps(probe, max_episode_steps)
    probe.reset(seed=0)
    state_of = _state_source(probe, global_state)
    obs_sizes = tuple(int(gym.spaces.flatdim(_obs_part(gym, probe.observation_space(a))[0]))
                      for a in agents)
    spec = HostSpec(
        name=name or str(probe), agents=agents, obs_sizes=obs_sizes,
        action_sizes=tuple(int(s.n) if discrete else s.shape[0] for s in acts), discrete=discrete,
        low=0.0 if discrete else float(min(np.min(s.low) for s in acts)),
        high=1.0 if discrete else float(max(np.max(s.high) for s in acts)),
        state_dim=int(np.size(state_of(probe))) if state_of else sum(obs_sizes), state_of=state_of,
        max_steps=max_steps)
    uid = next(_UIDS)
    _POOLS[uid] = _HostPool(make_env, spec, [probe] + [make_env() for _ in range(num_envs - 1)])
    return PettingZooEnv(make_env=make_env, spec=spec, uid=uid)
