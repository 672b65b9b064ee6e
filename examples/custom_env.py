"""Your own environment: a two-agent "press the same button" coordination game written as a
`jl.MultiAgentEnv`, checked against the env contract, then trained with VDN like any built-in
env (everything runs inside one compiled loop).

    python examples/custom_env.py          # under a minute
    python examples/custom_env.py --tiny   # a smoke run (what CI runs)
"""
import argparse
import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import evaluate, random_policy, vdn


@struct.dataclass
class ButtonState:
    target: jax.Array  # [] int32: the button that pays this episode
    step: jax.Array  # [] int32


@dataclasses.dataclass(frozen=True)
class SameButton(jl.MultiAgentEnv):
    """Each step agent 0 sees which of ``num_buttons`` buttons pays; both press one; the
    team gets +1 when both press the paying button, else 0. Agent 1 sees nothing, so it must
    learn to follow a convention the two agree on."""

    num_buttons: int = 3
    horizon: int = 10

    @property
    def num_agents(self) -> int:
        return 2

    @property
    def observation_space(self):
        return jl.Box(0.0, 1.0, (self.num_buttons,))

    @property
    def action_space(self):
        return jl.Discrete(self.num_buttons)

    @property
    def max_episode_steps(self) -> int:
        return self.horizon

    def _obs(self, state):
        seen = jax.nn.one_hot(state.target, self.num_buttons)
        return jnp.stack([seen, jnp.zeros_like(seen)])

    def reset_env(self, key):
        state = ButtonState(jax.random.randint(key, (), 0, self.num_buttons), jnp.int32(0))
        return self._obs(state), state

    def step_env(self, key, state, actions):
        reward = jnp.all(actions == state.target).astype(jnp.float32)
        nxt = ButtonState(jax.random.randint(key, (), 0, self.num_buttons), state.step + 1)
        truncated = jnp.broadcast_to(nxt.step >= self.horizon, (2,))
        return (self._obs(nxt), nxt, jnp.full((2,), reward), jnp.zeros((2,), bool), truncated,
                {})

    def global_state(self, state):
        return jnp.concatenate([jax.nn.one_hot(state.target, self.num_buttons),
                                (state.step / self.horizon)[None]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few updates only (CI)")
    args = parser.parse_args()
    env = SameButton()
    jl.check_env(env)  # raises jl.ContractError listing every broken rule
    config = vdn.PRESETS["grid_quick"].replace(
        total_timesteps=1_600 if args.tiny else 40_000, learning_starts=0)
    out = jax.jit(vdn.make_train(config, env))(jax.random.key(0))
    trained = evaluate(env, vdn.make_policy(config, env), out.carry.params, jax.random.key(1),
                       64).team_return.mean()
    rand = evaluate(env, random_policy(env), None, jax.random.key(1), 256).team_return.mean()
    print(f"VDN on SameButton: greedy team return {float(trained):.2f} per {env.horizon}-step "
          f"episode (optimum {env.horizon}), random policy {float(rand):.2f}")


if __name__ == "__main__":
    main()
