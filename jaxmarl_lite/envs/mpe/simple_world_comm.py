"""``simple_world_comm`` (mpe2 ``simple_world_comm_v3``): predators led by a speaking leader.

Agents: ``leadadversary_0`` (moves and says one of 4 symbols: 20 discrete actions), then
``adversary_0..`` and the prey ``agent_0..``. Landmarks: obstacles (collide), food and
forests. An entity is *in* a forest when it overlaps it; agents hide from each other:
agent i sees agent j when both share a forest, or neither is in any forest, or i is the
leader (hidden agents show zeros). Observations: adversaries ``[self_vel, self_pos,
landmark_rel_pos, other_rel_pos, prey_vel, in_forest (+-1), leader_comm]``, prey
``[self_vel, self_pos, landmark_rel_pos, other_rel_pos, in_forest, prey_vel]``.
Rewards: prey -5 per touching adversary, ``-2 *`` the out-of-arena penalty, +2 per food
touched, ``-0.05 *`` distance to the nearest food; adversaries ``-0.1 *`` distance to the
nearest prey and +5 per touching (prey, adversary) pair.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, any_last, bound_penalty, distance, flat, min_last, offsets, sum_last, without_self

ADV_SIZE, GOOD_SIZE, FOOD_SIZE, FOREST_SIZE = 0.075, 0.045, 0.03, 0.3


@dataclasses.dataclass(frozen=True)
class SimpleWorldComm(MPEEnv):
    num_good: int = 2
    """Number of prey."""
    num_adversaries: int = 4
    """Number of predators, the first of which is the leader."""
    num_obstacles: int = 1
    """Number of obstacles (they collide)."""
    num_food: int = 2
    """Number of food landmarks (prey gain reward touching them)."""
    num_forests: int = 2
    """Number of forests (hide agents inside them)."""

    def validate(self):
        for name, low in (("num_good", 1), ("num_adversaries", 1), ("num_obstacles", 0),
                          ("num_food", 1), ("num_forests", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"SimpleWorldComm: {name} must be >= {low}, got {getattr(self, name)}")

    @property
    def world(self) -> World:
        a, g = self.num_adversaries, self.num_good
        o, f, t = self.num_obstacles, self.num_food, self.num_forests
        return World(
            agent_size=(ADV_SIZE,) * a + (GOOD_SIZE,) * g,
            landmark_size=(0.2,) * o + (FOOD_SIZE,) * f + (FOREST_SIZE,) * t, dim_c=4,
            landmark_collide=(True,) * o + (False,) * (f + t), silent=(False,) + (True,) * (a + g - 1),
            accel=(3.0,) * a + (4.0,) * g, max_speed=(1.0,) * a + (1.3,) * g,
            landmark_range=(0.9,) * (o + f + t),
        )

    @property
    def agents(self):
        return ("leadadversary_0",) + tuple(f"adversary_{i}" for i in range(self.num_adversaries - 1)) + tuple(
            f"agent_{i}" for i in range(self.num_good)
        )

    def _slices(self):
        a, g = self.num_adversaries, self.num_good
        n = a + g
        food = n + self.num_obstacles
        forest = food + self.num_food
        return n, food, forest, forest + self.num_forests

    def observations(self, state):
        a, g = self.num_adversaries, self.num_good
        n, food, forest, end = self._slices()
        pos, vel = state.p_pos, state.p_vel
        agents = slice(0, n)
        sizes = np.array((ADV_SIZE,) * a + (GOOD_SIZE,) * g)
        inside = distance(pos[:n, None], pos[None, forest:end]) < (sizes[:, None] + FOREST_SIZE)  # [n, F]
        both = without_self(inside[:, None, :] & inside[None, :, :])  # [n, n-1, F]
        outside = ~any_last(inside)
        leader = np.arange(n)[:, None] == 0
        visible = any_last(both) | without_self(outside[:, None] & outside[None, :]) | leader
        other_pos = without_self(offsets(pos, agents, agents)) * visible[..., None]  # [n, n-1, 2]
        # each row of others lists the adversaries, then the prey: the prey are the last
        # g columns for an adversary and the last g-1 for a prey
        moving = without_self(jnp.broadcast_to(vel[None, :n], (n, n, 2))) * visible[..., None]
        adv_vel, prey_vel = flat(moving[:a, a - 1 :]), flat(moving[a:, a:])
        landmarks = flat(offsets(pos, agents, slice(n, end)))
        forest_flag = jnp.where(inside, 1.0, -1.0).astype(pos.dtype)
        comm = jnp.broadcast_to(state.c[0], (a, state.c.shape[1]))
        head = jnp.concatenate([vel[:n], pos[:n], landmarks, flat(other_pos)], -1)
        adversary = jnp.concatenate([head[:a], adv_vel, forest_flag[:a], comm], -1)
        prey = jnp.concatenate([head[a:], forest_flag[a:], prey_vel], -1)
        return [adversary, prey]

    def rewards(self, state):
        a = self.num_adversaries
        n, food, forest, _ = self._slices()
        pos = state.p_pos
        caught = distance(pos[a:n, None], pos[None, :a]) < (ADV_SIZE + GOOD_SIZE)  # [g, a]
        food_dist = distance(pos[a:n, None], pos[None, food:forest])  # [g, num_food]
        dtype = pos.dtype
        per_prey = sum_last(caught.astype(dtype))
        eaten = sum_last((food_dist < GOOD_SIZE + FOOD_SIZE).astype(dtype))
        prey = -5.0 * per_prey - 2.0 * bound_penalty(pos[a:n]) + 2.0 * eaten - 0.05 * min_last(food_dist)
        nearest_prey = min_last(distance(pos[:a, None], pos[None, a:n]))
        adversary = -0.1 * nearest_prey + 5.0 * sum_last(per_prey)
        return jnp.concatenate([adversary, prey])

    def colours(self, state):
        a, g = self.num_adversaries, self.num_good
        o, f, t = self.num_obstacles, self.num_food, self.num_forests
        adv = [[0.95, 0.45, 0.45]] * a
        adv[0] = [0.65, 0.15, 0.15]
        return np.array(
            adv + [[0.45, 0.95, 0.45]] * g + [[0.25, 0.25, 0.25]] * o + [[0.15, 0.15, 0.65]] * f
            + [[0.6, 0.9, 0.6]] * t
        )
