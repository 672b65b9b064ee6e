"""``simple_spread`` (mpe2 ``simple_spread_v3``): N agents cover N landmarks.

Observation of agent i: ``[self_vel, self_pos, landmark_rel_pos (2N), other_rel_pos
(2(N-1)), other_comm (2(N-1))]`` (the agents are silent, so the comm slots are zeros).
Reward: ``(1 - local_ratio) * global + local_ratio * local`` with ``global = -sum over
landmarks of the distance to the nearest agent`` and ``local = -(number of other agents
touching i)``.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, distance, flat, min_last, offsets, sum_last, without_self


@dataclasses.dataclass(frozen=True)
class SimpleSpread(MPEEnv):
    N: int = 3
    """Number of agents and of landmarks."""
    local_ratio: float = 0.5
    """Weight of the local (collision) reward; the global reward gets ``1 - local_ratio``."""

    def validate(self):
        if self.N < 1:
            raise ValueError(f"SimpleSpread: N must be >= 1, got {self.N}")
        if not 0.0 <= self.local_ratio <= 1.0:
            raise ValueError(f"SimpleSpread: local_ratio must be in [0, 1], got {self.local_ratio}")

    @property
    def world(self) -> World:
        return World(agent_size=(0.15,) * self.N, landmark_size=(0.05,) * self.N, dim_c=2)

    @property
    def agents(self):
        return tuple(f"agent_{i}" for i in range(self.N))

    def observations(self, state):
        n = self.N
        agents = slice(0, n)
        landmarks = flat(offsets(state.p_pos, agents, slice(n, 2 * n)))
        mates = flat(without_self(offsets(state.p_pos, agents, agents)))
        comm = flat(without_self(jnp.broadcast_to(state.c[None], (n,) + state.c.shape)))
        return [jnp.concatenate([state.p_vel[:n], state.p_pos[:n], landmarks, mates, comm], -1)]

    def rewards(self, state):
        n = self.N
        agents, landmarks = state.p_pos[:n], state.p_pos[n:]
        global_reward = -sum_last(min_last(distance(agents[None, :], landmarks[:, None])))
        touching = distance(agents[:, None], agents[None, :]) < 0.3
        local = -sum_last((touching & ~np.eye(n, dtype=bool)).astype(state.p_pos.dtype))
        return global_reward * (1 - self.local_ratio) + local * self.local_ratio

    def colours(self, state):
        return np.array([[0.35, 0.35, 0.85]] * self.N + [[0.25, 0.25, 0.25]] * self.N)
