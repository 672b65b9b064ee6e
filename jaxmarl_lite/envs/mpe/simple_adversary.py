"""``simple_adversary`` (mpe2 ``simple_adversary_v3``): N good agents vs one adversary.

The good agents know the goal landmark (``state.goal[0]``) and must cover it while
hiding it among the N landmarks; the adversary does not know it. Observations: the
adversary ``[landmark_rel_pos (2N), other_rel_pos (2N)]``, a good agent
``[goal_rel_pos, landmark_rel_pos, other_rel_pos]`` (no velocities). Rewards: adversary
``-|adv - goal|``; good agents ``-min_good |g - goal| + |adv - goal|``.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, distance, flat, min_last, offsets, pick, without_self


@dataclasses.dataclass(frozen=True)
class SimpleAdversary(MPEEnv):
    N: int = 2
    """Number of good agents and of landmarks."""

    def validate(self):
        if self.N < 1:
            raise ValueError(f"SimpleAdversary: N must be >= 1, got {self.N}")

    @property
    def world(self) -> World:
        n = self.N + 1
        return World(
            agent_size=(0.15,) * n, landmark_size=(0.08,) * self.N, dim_c=2,
            agent_collide=(False,) * n, num_goals=1, goal_choices=(self.N,),
        )

    @property
    def agents(self):
        return ("adversary_0",) + tuple(f"agent_{i}" for i in range(self.N))

    def observations(self, state):
        n = self.N + 1
        agents = slice(0, n)
        seen = jnp.concatenate(
            [flat(offsets(state.p_pos, agents, slice(n, n + self.N))),
             flat(without_self(offsets(state.p_pos, agents, agents)))], -1,
        )
        goal_rel = pick(state.p_pos[n:], state.goal) - state.p_pos[1:n]
        return [seen[:1], jnp.concatenate([goal_rel, seen[1:]], -1)]

    def rewards(self, state):
        n = self.N + 1
        goal = pick(state.p_pos[n:], state.goal)[0]
        adv = distance(state.p_pos[0], goal)
        good = -min_last(distance(state.p_pos[1:n], goal)) + adv
        return jnp.concatenate([-adv[None], jnp.full((self.N,), good)])

    def colours(self, state):
        landmarks = np.full((self.N, 3), 0.15)
        landmarks[int(np.asarray(state.goal)[0])] = [0.15, 0.65, 0.15]
        return np.concatenate([[[0.85, 0.35, 0.35]], [[0.35, 0.35, 0.85]] * self.N, landmarks])
