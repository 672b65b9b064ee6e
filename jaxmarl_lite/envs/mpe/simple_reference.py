"""``simple_reference`` (mpe2 ``simple_reference_v3``): two agents guide each other.

Each agent privately knows a goal landmark (``state.goal[i]``) that the *other* agent
must reach; both move and speak (``dim_c = 10``; 50 discrete actions = 5 moves x 10
symbols). Observation ``[self_vel, landmark_rel_pos (6), goal_colour (3),
other_comm (10)]`` (21). Reward of agent i: ``-|p_other - landmark[goal[i]]|``, mixed with
the mean over both agents as ``(1 - local_ratio) * mean + local_ratio * own``.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, distance, flat, offsets, pick

LANDMARK_COLOURS = np.array([[0.75, 0.25, 0.25], [0.25, 0.75, 0.25], [0.25, 0.25, 0.75]])


@dataclasses.dataclass(frozen=True)
class SimpleReference(MPEEnv):
    local_ratio: float = 0.5
    """Weight of the agent's own reward; the mean reward gets ``1 - local_ratio``."""

    def validate(self):
        if not 0.0 <= self.local_ratio <= 1.0:
            raise ValueError(f"SimpleReference: local_ratio must be in [0, 1], got {self.local_ratio}")

    @property
    def world(self) -> World:
        return World(
            agent_size=(0.05,) * 2, landmark_size=(0.05,) * 3, dim_c=10,
            agent_collide=(False,) * 2, silent=(False,) * 2, num_goals=2, goal_choices=(3, 3),
        )

    @property
    def agents(self):
        return ("agent_0", "agent_1")

    def observations(self, state):
        landmarks = flat(offsets(state.p_pos, slice(0, 2), slice(2, 5)))
        goal_colour = pick(jnp.asarray(LANDMARK_COLOURS, state.p_pos.dtype), state.goal)
        return [jnp.concatenate([state.p_vel[:2], landmarks, goal_colour, state.c[::-1]], -1)]

    def rewards(self, state):
        own = -distance(state.p_pos[1::-1], pick(state.p_pos[2:5], state.goal))
        return (own[0] + own[1]) / 2 * (1 - self.local_ratio) + own * self.local_ratio

    def colours(self, state):
        goal = np.asarray(state.goal)
        # each agent wears the colour of the landmark its partner wants it to reach
        agents = LANDMARK_COLOURS[goal[::-1]]
        return np.concatenate([agents, LANDMARK_COLOURS])
