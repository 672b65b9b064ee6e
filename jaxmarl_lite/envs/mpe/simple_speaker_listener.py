"""``simple_speaker_listener`` (mpe2 ``simple_speaker_listener_v4``).

``speaker_0`` cannot move and sees the goal landmark's colour (``state.goal[0]``); it
says one of 3 symbols. ``listener_0`` is silent and moves. Observations: speaker
``[goal_colour]`` (3), listener ``[self_vel, landmark_rel_pos (6), speaker_comm (3)]``
(11), zero-padded to 11. Actions: speaker 3, listener 5 (padded to 5; continuous: 3
and 5 dims). Shared reward: minus the listener's squared distance to the goal.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, flat, offsets, pick

LANDMARK_COLOURS = np.array([[0.65, 0.15, 0.15], [0.15, 0.65, 0.15], [0.15, 0.15, 0.65]])


@dataclasses.dataclass(frozen=True)
class SimpleSpeakerListener(MPEEnv):
    @property
    def world(self) -> World:
        return World(
            agent_size=(0.075,) * 2, landmark_size=(0.04,) * 3, dim_c=3,
            agent_collide=(False,) * 2, movable=(False, True), silent=(False, True),
            num_goals=1, goal_choices=(3,),
        )

    @property
    def agents(self):
        return ("speaker_0", "listener_0")

    def observations(self, state):
        speaker = pick(jnp.asarray(LANDMARK_COLOURS, state.p_pos.dtype), state.goal)
        landmarks = flat(offsets(state.p_pos, slice(1, 2), slice(2, 5)))
        listener = jnp.concatenate([state.p_vel[1:2], landmarks, state.c[:1]], -1)
        return [speaker, listener]

    def rewards(self, state):
        d = state.p_pos[1] - pick(state.p_pos[2:5], state.goal)[0]
        d2 = jnp.square(d[0]) + jnp.square(d[1])
        return jnp.full((2,), -d2)

    def colours(self, state):
        goal = int(np.asarray(state.goal)[0])
        return np.concatenate([[[0.25] * 3, LANDMARK_COLOURS[goal] + 0.45], LANDMARK_COLOURS])
