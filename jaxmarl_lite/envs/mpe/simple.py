"""``simple`` (mpe2 ``simple_v3``): one agent walks to one landmark (a debugging task).

Observation ``[self_vel, landmark_rel_pos]`` (4). Reward: minus the squared distance
to the landmark. No collisions, no communication.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, flat, offsets


@dataclasses.dataclass(frozen=True)
class Simple(MPEEnv):
    @property
    def world(self) -> World:
        return World(agent_size=(0.05,), landmark_size=(0.05,), agent_collide=(False,))

    @property
    def agents(self):
        return ("agent_0",)

    def observations(self, state):
        return [jnp.concatenate([state.p_vel[:1], flat(offsets(state.p_pos, slice(0, 1), slice(1, 2)))], -1)]

    def rewards(self, state):
        d = state.p_pos[:1] - state.p_pos[1]
        return -(jnp.square(d[:, 0]) + jnp.square(d[:, 1]))

    def colours(self, state):
        return np.array([[0.25, 0.25, 0.25], [0.75, 0.25, 0.25]])
