"""``simple_crypto`` (mpe2 ``simple_crypto_v3``): Alice encrypts, Bob decodes, Eve eavesdrops.

Agents ``eve_0``, ``bob_0``, ``alice_0`` cannot move and each says a 4-dim message
(``dim_c = 4``). ``state.goal = [message, key]`` indexes two landmarks whose colours are
the one-hots ``e_0``, ``e_1`` (in 4 dims). Observations: Eve ``[alice_comm]`` (4,
zero-padded), Bob ``[key_colour, alice_comm]`` (8), Alice ``[message_colour,
key_colour]`` (8). Rewards use the utterances of this step: Eve gets ``-|c_eve -
message|^2``; Bob and Alice get ``|c_eve - message|^2 - |c_bob - message|^2``; a term is
skipped while that utterance is all zeros.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, any_last, pick, sum_last

DIM_C = 4
LANDMARK_COLOURS = np.eye(2, DIM_C, )


@dataclasses.dataclass(frozen=True)
class SimpleCrypto(MPEEnv):
    @property
    def world(self) -> World:
        return World(
            agent_size=(0.05,) * 3, landmark_size=(0.05,) * 2, dim_c=DIM_C,
            agent_collide=(False,) * 3, movable=(False,) * 3, silent=(False,) * 3,
            num_goals=2, goal_choices=(2, 2),
        )

    @property
    def agents(self):
        return ("eve_0", "bob_0", "alice_0")

    def observations(self, state):
        message, key = pick(jnp.asarray(LANDMARK_COLOURS, state.p_pos.dtype), state.goal)
        alice = state.c[2]
        return [alice[None], jnp.concatenate([key, alice])[None], jnp.concatenate([message, key])[None]]

    def rewards(self, state):
        message = pick(jnp.asarray(LANDMARK_COLOURS, state.p_pos.dtype), state.goal)[0]
        err = sum_last(jnp.square(state.c - message))
        spoke = any_last(state.c != 0)
        err = jnp.where(spoke, err, 0.0)
        good = err[0] - err[1]
        return jnp.stack([-err[0], good, good])

    def colours(self, state):
        message = int(np.asarray(state.goal)[0])
        rgb = np.array([[0.75, 0.25, 0.25], [0.25, 0.25, 0.25], [0.25, 0.25, 0.25]])
        landmarks = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        rgb[1] = landmarks[message]  # Bob wears the message colour, as in mpe2
        return np.concatenate([rgb, landmarks])
