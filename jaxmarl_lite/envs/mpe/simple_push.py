"""``simple_push`` (mpe2 ``simple_push_v3``): an adversary pushes the agent off its goal.

``adversary_0`` and ``agent_0`` collide with each other; two landmarks, one of which
(``state.goal[0]``) is the goal. Observations: the agent ``[self_vel, goal_rel_pos,
own_colour (3), landmark_rel_pos (4), landmark_colours (6), other_rel_pos]`` (19), the
adversary ``[self_vel, landmark_rel_pos (4), other_rel_pos]`` (8, zero-padded).
Rewards: agent ``-|agent - goal|``; adversary ``|agent - goal| - |adv - goal|``.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, distance, flat, offsets, pick

LANDMARK_COLOURS = np.array([[0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])
AGENT_COLOURS = np.array([[0.25, 0.75, 0.25], [0.25, 0.25, 0.75]])  # by goal


@dataclasses.dataclass(frozen=True)
class SimplePush(MPEEnv):
    @property
    def world(self) -> World:
        return World(agent_size=(0.05,) * 2, landmark_size=(0.05,) * 2, dim_c=2, num_goals=1, goal_choices=(2,))

    @property
    def agents(self):
        return ("adversary_0", "agent_0")

    def observations(self, state):
        pos, vel = state.p_pos, state.p_vel
        landmarks = flat(offsets(pos, slice(0, 2), slice(2, 4)))
        other = pos[1::-1] - pos[:2]
        goal_pos = pick(pos[2:4], state.goal)[0]
        agent = jnp.concatenate(
            [vel[1], goal_pos - pos[1], pick(jnp.asarray(AGENT_COLOURS, pos.dtype), state.goal)[0], landmarks[1],
             jnp.asarray(LANDMARK_COLOURS, state.p_pos.dtype).reshape(-1), other[1]]
        )
        adversary = jnp.concatenate([vel[0], landmarks[0], other[0]])
        return [adversary[None], agent[None]]

    def rewards(self, state):
        goal = pick(state.p_pos[2:4], state.goal)[0]
        agent = distance(state.p_pos[1], goal)
        adversary = agent - distance(state.p_pos[0], goal)
        return jnp.stack([adversary, -agent])

    def colours(self, state):
        goal = int(np.asarray(state.goal)[0])
        return np.concatenate([[[0.75, 0.25, 0.25]], AGENT_COLOURS[goal : goal + 1], LANDMARK_COLOURS])
