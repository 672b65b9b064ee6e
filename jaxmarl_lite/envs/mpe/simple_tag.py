"""``simple_tag`` (mpe2 ``simple_tag_v3``): predators (adversaries) chase faster prey.

Agents: ``adversary_0..`` (size 0.075, accel 3, max speed 1) then ``agent_0..`` (size
0.05, accel 4, max speed 1.3); obstacles of size 0.2 block everyone. Observation
``[self_vel, self_pos, obstacle_rel_pos, other_rel_pos, prey_vel]`` where ``prey_vel``
lists the other good agents' velocities (so the prey's observation is shorter and is
zero-padded). Rewards: a prey gets -10 per adversary touching it and minus the
out-of-arena penalty; every adversary gets +10 per touching (prey, adversary) pair.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.envs.mpe.core import MPEEnv, World, bound_penalty, distance, flat, offsets, sum_last, without_self


@dataclasses.dataclass(frozen=True)
class SimpleTag(MPEEnv):
    num_good: int = 1
    """Number of prey."""
    num_adversaries: int = 3
    """Number of predators."""
    num_obstacles: int = 2
    """Number of static obstacles."""

    def validate(self):
        for name in ("num_good", "num_adversaries"):
            if getattr(self, name) < 1:
                raise ValueError(f"SimpleTag: {name} must be >= 1, got {getattr(self, name)}")
        if self.num_obstacles < 0:
            raise ValueError(f"SimpleTag: num_obstacles must be >= 0, got {self.num_obstacles}")

    @property
    def world(self) -> World:
        a, g, o = self.num_adversaries, self.num_good, self.num_obstacles
        return World(
            agent_size=(0.075,) * a + (0.05,) * g, landmark_size=(0.2,) * o, dim_c=2,
            landmark_collide=(True,) * o, accel=(3.0,) * a + (4.0,) * g,
            max_speed=(1.0,) * a + (1.3,) * g, landmark_range=(0.9,) * o,
        )

    @property
    def agents(self):
        return tuple(f"adversary_{i}" for i in range(self.num_adversaries)) + tuple(
            f"agent_{i}" for i in range(self.num_good)
        )

    def observations(self, state):
        a, g, o = self.num_adversaries, self.num_good, self.num_obstacles
        n = a + g
        agents = slice(0, n)
        base = jnp.concatenate(
            [state.p_vel[:n], state.p_pos[:n], flat(offsets(state.p_pos, agents, slice(n, n + o))),
             flat(without_self(offsets(state.p_pos, agents, agents)))], -1,
        )
        prey_vel = state.p_vel[a:n]
        adv_vel = jnp.broadcast_to(prey_vel.reshape(1, -1), (a, 2 * g))
        good_vel = flat(without_self(jnp.broadcast_to(prey_vel[None], (g, g, 2))))
        return [jnp.concatenate([base[:a], adv_vel], -1), jnp.concatenate([base[a:], good_vel], -1)]

    def caught(self, state) -> jnp.ndarray:
        """``[num_good, num_adversaries]`` bool: prey j touches adversary k."""
        a = self.num_adversaries
        pos = state.p_pos[: a + self.num_good]
        return distance(pos[a:, None], pos[None, :a]) < 0.125

    def rewards(self, state):
        a = self.num_adversaries
        caught = self.caught(state).astype(state.p_pos.dtype)
        per_prey = sum_last(caught)
        prey = -10.0 * per_prey - bound_penalty(state.p_pos[a : a + self.num_good])
        adversary = jnp.full((a,), 10.0 * sum_last(per_prey))
        return jnp.concatenate([adversary, prey])

    def colours(self, state):
        a, g, o = self.num_adversaries, self.num_good, self.num_obstacles
        return np.array([[0.85, 0.35, 0.35]] * a + [[0.35, 0.85, 0.35]] * g + [[0.25, 0.25, 0.25]] * o)
