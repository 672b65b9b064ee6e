"""pgx board games as our envs (``pip install "jaxmarl-lite[pgx]"``).

``from_pgx("connect_four")`` turns a two-player pgx game (JAX already: ``pgx.make(id)``) into
one of our turn-based envs, the convention of :class:`~jaxmarl_lite.envs.tictactoe.TicTacToe`,
so :mod:`~jaxmarl_lite.algorithms.alphazero`, self-play PPO, ``selfplay.play_games`` and
``check_env`` run on it:

* Agents ``player_1`` (moves first) and ``player_2``. pgx draws which of its player ids
  opens a game; the adapter keeps that draw in its state and maps the opener to agent 0, so
  a seat means the same thing in every game. Both agents send an action every step; only
  the mover's counts.
* Observation row ``i`` is pgx's ``observe(state, player)`` of agent ``i``'s player,
  flattened to float32 (pgx's views are from that player's side: connect four's ``[6, 7,
  2]`` planes of own and opponent discs). ``action_mask``: the mover's row is pgx's
  ``legal_action_mask``, the other row zero, both zero once the game is over.
* Rewards are pgx's per player (connect four: +1/-1 for a win, 0 for a draw); an illegal
  move ends the game with pgx's penalty for the mover. Game ends are ``terminated``; a
  game still going after ``max_episode_steps`` moves is ``truncated`` (pgx's own
  ``truncated`` too). ``global_state``: agent 0's view and the one-hot of the mover.
* ``symmetries()`` (for ``augment_symmetries``) where :data:`SYMMETRIES` knows the game:
  tic-tac-toe's eight, connect four's left-right mirror.
* The pgx env is built from its id (cached), so two adapters of the same id and horizon are
  equal and share compiled functions.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.interop import require
from jaxmarl_lite.selfplay import board_symmetries
from jaxmarl_lite.spaces import Box, Discrete
from jaxmarl_lite.typecheck import check_field_types

HORIZONS = {"tic_tac_toe": 9, "connect_four": 42}
"""Longest game of the pgx ids whose length is known; other ids need ``max_episode_steps``."""

SYMMETRIES = {"tic_tac_toe": dict(height=3, width=3, planes=2, square=True, moves="cells"),
              "connect_four": dict(height=6, width=7, planes=2, square=False, moves="columns")}
"""The board symmetries (:func:`~jaxmarl_lite.selfplay.board_symmetries`) of the pgx ids
whose observation layout and rules are known to keep them."""


@functools.lru_cache(maxsize=None)
def _pgx_env(env_id: str):
    pgx = require("pgx", "pgx")
    if env_id not in pgx.available_envs():
        raise ValueError(f"from_pgx: unknown pgx env {env_id!r}; pgx has "
                         f"{', '.join(pgx.available_envs())}")
    env = pgx.make(env_id)
    if env.num_players != 2:
        raise ValueError(f"from_pgx: {env_id!r} has {env.num_players} players; the adapter "
                         "takes two-player games")
    return env


@struct.dataclass
class PgxState:
    inner: Any
    """pgx's state."""
    first: jax.Array
    """``[]`` int32: the pgx player id of agent 0 (who opens the game)."""
    steps: jax.Array
    """``[]`` int32 moves made."""


@dataclasses.dataclass(frozen=True)
class PgxEnv(MultiAgentEnv):
    """A two-player pgx game as our turn-based env (see the module docstring)."""

    env_id: str
    """pgx's id of the game (``pgx.available_envs()``)."""
    horizon: int
    """Moves after which a game still going is truncated."""

    def __post_init__(self):
        check_field_types(self)
        _pgx_env(self.env_id)
        if self.horizon < 1:
            raise ValueError(f"from_pgx: max_episode_steps must be >= 1, got {self.horizon}")

    @property
    def pgx(self):
        """The wrapped ``pgx.Env``."""
        return _pgx_env(self.env_id)

    @property
    def num_agents(self) -> int:
        return 2

    @property
    def agents(self) -> Tuple[str, ...]:
        return ("player_1", "player_2")

    @property
    def observation_space(self) -> Box:
        return Box(0.0, 1.0, (int(np.prod(self.pgx.observation_shape)),))

    @property
    def action_space(self) -> Discrete:
        return Discrete(int(self.pgx.num_actions))

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    def symmetries(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(obs_perms [G, D], action_perms [G, A])``, as
        :meth:`~jaxmarl_lite.envs.tictactoe.TicTacToe.symmetries`, for the games in
        :data:`SYMMETRIES`; any other game raises ``ValueError``."""
        if self.env_id not in SYMMETRIES:
            raise ValueError(f"from_pgx: no symmetries known for {self.env_id!r}; known "
                             f"for {', '.join(sorted(SYMMETRIES))}")
        return board_symmetries(**SYMMETRIES[self.env_id])

    # ---------------------------------------------------------------------- views
    def players(self, state: PgxState) -> jax.Array:
        """``[2]`` int32: the pgx player id of each agent."""
        return (state.first + jnp.arange(2, dtype=jnp.int32)) % 2

    def get_obs(self, state: PgxState) -> jax.Array:
        views = [self.pgx.observe(state.inner, p) for p in self.players(state)]
        return jnp.stack([v.reshape(-1) for v in views]).astype(jnp.float32)

    def mover_agent(self, state: PgxState) -> jax.Array:
        return ((state.inner.current_player - state.first) % 2).astype(jnp.int32)

    def action_mask(self, state: PgxState) -> jax.Array:
        over = state.inner.terminated | state.inner.truncated | (state.steps >= self.horizon)
        row = state.inner.legal_action_mask & ~over
        is_mover = jnp.arange(2) == self.mover_agent(state)
        return (is_mover[:, None] & row[None, :]).astype(jnp.float32)

    def global_state(self, state: PgxState) -> jax.Array:
        return jnp.concatenate([self.get_obs(state)[0],
                                jax.nn.one_hot(self.mover_agent(state), 2, dtype=jnp.float32)])

    # ------------------------------------------------------------------- dynamics
    def reset_env(self, key):
        inner = self.pgx.init(key)
        state = PgxState(inner, inner.current_player.astype(jnp.int32), jnp.zeros((), jnp.int32))
        return self.get_obs(state), state

    def step_env(self, key, state: PgxState, actions):
        was_over = state.inner.terminated | state.inner.truncated
        move = actions[self.mover_agent(state)]
        inner = self.pgx.step(state.inner, move, key)
        steps = state.steps + jnp.where(was_over, 0, 1)
        state = PgxState(inner, state.first, steps)
        reward = inner.rewards[self.players(state)].astype(jnp.float32)
        terminated = jnp.full((2,), inner.terminated)
        truncated = jnp.full((2,), ~inner.terminated & (inner.truncated | (steps >= self.horizon)))
        return self.get_obs(state), state, reward, terminated, truncated, {}


def from_pgx(env_id: str, max_episode_steps: Optional[int] = None) -> PgxEnv:
    """The two-player pgx game ``env_id`` as our env; ``max_episode_steps`` is needed for
    games whose length is not in :data:`HORIZONS`."""
    if not isinstance(env_id, str):
        raise TypeError(f"from_pgx expects a pgx env id (str), got {type(env_id).__name__}")
    if max_episode_steps is None:
        if env_id not in HORIZONS:
            _pgx_env(env_id)  # an unknown id fails first, with the valid ones listed
            raise ValueError(f"from_pgx: give max_episode_steps for {env_id!r} (known "
                             f"horizons: {HORIZONS})")
        max_episode_steps = HORIZONS[env_id]
    return PgxEnv(env_id, int(max_episode_steps))
