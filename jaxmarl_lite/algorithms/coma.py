"""COMA: counterfactual multi-agent policy gradients (Foerster et al. 2018).

Decentralised actors (the PPO actor trunk: feed-forward or GRU, shared parameters with
agent ids or per-agent parameters, masked categorical policies) and one centralised
critic ``Q(s, u)`` that, for agent ``a``, reads the global state, ``a``'s observation, the
other agents' actions (one-hot; ``a``'s own slot zeroed) and ``a``'s id, and outputs the
values of all of ``a``'s actions at once. The counterfactual advantage keeps the others'
actions fixed and marginalises ``a``'s own::

    A_a(s, u) = Q(s, u)[u_a] - sum_{u'} pi_a(u' | tau_a) Q(s, (u_-a, u'))[u']

One update = ``num_steps`` steps of ``num_envs`` vmapped envs, then

* critic: TD(lambda) targets from a target critic (copied every ``target_update_every``
  updates), ``G_t = r_t + gamma (1 - term_t) [(1 - lambda) Q'(s_{t+1}, u_{t+1}) + lambda
  G_{t+1}]`` (the recursion stops at episode ends and bootstraps through truncation from
  the pre-reset ``final_obs``/``final_global_state``, never through termination), fitted
  by ``critic_epochs`` full-batch Adam steps on the squared error of the taken action;
* actor: one Adam step on ``-mean(log pi_a(u_a) A_a) - ent_coef * entropy`` with ``A_a``
  from the updated critic (no gradient through ``A``; optionally standardised).

``u_{t+1}`` is the action the agents took next; at an episode's end and at the rollout's
last step it is a fresh sample of the current policy at the next observation (at an
episode's end legal under the env's static mask: the reached state's own mask is gone
with the reset). Rewards are per agent (a team reward is every agent's reward). Discrete
actions only.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, Dict, NamedTuple, Sequence, Tuple

import chex
import jax
import jax.numpy as jnp
import optax

from jaxmarl_lite.algorithms._common.config import ConfigBase
from jaxmarl_lite.algorithms._common.distributions import masked_categorical
from jaxmarl_lite.algorithms._common.evaluation import Policy, periodic_eval
from jaxmarl_lite.algorithms._common.gae import gae
from jaxmarl_lite.algorithms._common.hyper import (INF, HyperView, check_hyper, clipped_adam,
                                                   initial_values, set_hyperparams)
from jaxmarl_lite.algorithms._common.networks import (MLP, activation, agent_id_onehot,
                                                      apply_agents)
from jaxmarl_lite.algorithms._common.training import (EpisodeMetrics, TrainStages, count_updates,
                                                      episode_metrics, initial_episode_metrics,
                                                      loop_metrics, train_from_stages)
from jaxmarl_lite.algorithms.ppo import Trunk
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.wrappers import EpisodeStats, VecEnv


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    TUNABLE: ClassVar[Dict[str, Tuple[float, float]]] = {
        "actor_lr": (0.0, INF), "critic_lr": (0.0, INF), "max_grad_norm": (0.0, INF),
        "gamma": (0.0, 1.0), "td_lambda": (0.0, 1.0), "ent_coef": (0.0, INF)}
    """Fields that can be carried as data (sweeps, PBT), with their intervals."""

    total_timesteps: int = 1_000_000
    """Env-step budget per seed (``num_envs * num_steps`` per update)."""
    num_envs: int = 16
    """Parallel envs."""
    num_steps: int = 32
    """Rollout length per env per update."""
    actor_lr: float = 5e-4
    """Actor Adam learning rate."""
    critic_lr: float = 5e-4
    """Critic Adam learning rate."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip (each network)."""
    gamma: float = 0.99
    """Discount."""
    td_lambda: float = 0.8
    """Lambda of the critic's TD(lambda) targets."""
    critic_epochs: int = 2
    """Full-batch critic Adam steps per rollout (before the actor's step)."""
    target_update_every: int = 4
    """Updates between copies of the critic into the target critic."""
    ent_coef: float = 0.01
    """Entropy bonus weight of the actor loss."""
    normalize_advantages: bool = False
    """Standardise the counterfactual advantages over the batch before the actor step."""
    hidden_size: int = 64
    """Width of the actor's layers."""
    critic_hidden_size: int = 128
    """Width of the critic's two hidden layers."""
    recurrent: bool = False
    """GRU actor (``False``: a two-layer MLP). The critic is feed-forward (it sees the state)."""
    activation: str = "relu"
    """Hidden activation (relu, tanh, elu, gelu, silu)."""
    parameter_sharing: bool = True
    """One actor for all agents with agent ids; ``False``: per-agent actors. The critic is
    always one network with agent ids (COMA's centralised critic)."""
    eval_every: int = 10
    """Updates between greedy evaluations."""
    eval_episodes: int = 64
    """Episodes per evaluation."""

    def validate(self) -> None:
        self._require_positive("total_timesteps", "num_envs", "num_steps", "actor_lr",
                               "critic_lr", "max_grad_norm", "critic_epochs",
                               "target_update_every", "hidden_size", "critic_hidden_size",
                               "eval_every", "eval_episodes")
        self._require_unit("gamma", "td_lambda")
        self._require_nonnegative("ent_coef")
        activation(self.activation)


class Params(NamedTuple):
    actor: Any
    critic: Any
    target_critic: Any


class Batch(NamedTuple):
    """A rollout, time-major: ``obs [T, E, N, D]``, ``critic_in [T, E, N, F]`` (the
    critic's input of each agent, :func:`critic_inputs`), ``mask [T, E, N, A]``,
    ``actions [T, E, N]`` int32, ``targets [T, E, N]`` (TD(lambda) returns),
    ``resets [T, E]`` (episode starts), ``h0 [E, N, H]`` (actor hidden at the start)."""

    obs: jax.Array
    critic_in: jax.Array
    mask: jax.Array
    actions: jax.Array
    targets: jax.Array
    resets: jax.Array
    h0: jax.Array


def critic_inputs(state, obs, actions, num_actions: int):
    """``state [..., S]``, ``obs [..., N, D]``, ``actions [..., N]`` -> ``[..., N, S + D +
    N * A + N]``: per agent ``a`` the state, its observation, every agent's one-hot action
    with ``a``'s own zeroed, and ``a``'s id."""
    n = obs.shape[-2]
    lead = obs.shape[:-2]
    onehot = jax.nn.one_hot(actions, num_actions)  # [..., N, A]
    others = onehot[..., None, :, :] * (1.0 - jnp.eye(n))[:, :, None]  # [..., N(a), N, A]
    return jnp.concatenate([
        jnp.broadcast_to(state[..., None, :], (*lead, n, state.shape[-1])), obs,
        others.reshape(*lead, n, n * num_actions), agent_id_onehot(n, lead)], axis=-1)


def counterfactual_advantage(q_values, probs, actions):
    """``q_values [..., A]`` (one agent's values of each of its actions, the others' fixed),
    ``probs [..., A]`` (its policy), ``actions [...]`` -> ``(advantage, baseline)``:
    ``Q[u_a] - sum_u pi(u) Q[u]`` and the baseline ``sum_u pi(u) Q[u]``."""
    chex.assert_equal_shape([q_values, probs])
    baseline = (probs * q_values).sum(-1)
    taken = jnp.take_along_axis(q_values, actions[..., None], -1)[..., 0]
    return taken - baseline, baseline


class Nets(NamedTuple):
    actor: Trunk
    critic: MLP
    config: Config

    def dist(self, actor_params, hidden, obs, mask, resets):
        """``obs [T, B, N, D]`` -> ``(hidden [B, N, H], masked categorical [T, B, N, A])``."""
        h, logits = apply_agents(self.actor, self.config.parameter_sharing, actor_params,
                                 hidden, obs, resets)
        return h, masked_categorical(logits, mask)


def make_nets(config: Config, env) -> Nets:
    """The actor trunk (PPO's) and the critic MLP (2 x ``critic_hidden_size``, one output per
    action)."""
    actor = Trunk(env.num_actions, hidden_size=config.hidden_size, recurrent=config.recurrent,
                  act=config.activation, out_scale=0.01)
    critic = MLP((config.critic_hidden_size,) * 2, env.num_actions, config.activation)
    return Nets(actor, critic, config)


def critic_loss(critic_params, batch: Batch, *, nets: Nets):
    """Mean squared TD(lambda) error of the taken actions' values -> ``(loss, mean Q)``."""
    q = nets.critic.apply(critic_params, batch.critic_in)  # [T, E, N, A]
    taken = jnp.take_along_axis(q, batch.actions[..., None], -1)[..., 0]
    chex.assert_equal_shape([taken, batch.targets])
    return ((taken - batch.targets) ** 2).mean(), taken.mean()


def actor_loss(actor_params, batch: Batch, q_values, *, nets: Nets, ent_coef=None):
    """``-mean(log pi(u_a) A_a) - ent_coef * entropy`` with the counterfactual advantage of
    ``q_values [T, E, N, A]`` -> ``(loss, (advantage mean, entropy))``.

    Steps: the counterfactual baseline uses the current policy's probabilities (no gradient
    through the baseline or the critic's values); the advantages are standardised over the
    batch when ``config.normalize_advantages``; the entropy bonus is ``ent_coef``
    (overridden by the ``ent_coef`` argument, e.g. an annealed value)."""
    ent_coef = nets.config.ent_coef if ent_coef is None else ent_coef
    _, dist = nets.dist(actor_params, batch.h0, batch.obs, batch.mask, batch.resets)
    adv, _ = counterfactual_advantage(q_values, jax.lax.stop_gradient(dist.probs),
                                      batch.actions)
    adv = jax.lax.stop_gradient(adv)
    if nets.config.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    entropy = dist.entropy().mean()
    return -(dist.log_prob(batch.actions) * adv).mean() - ent_coef * entropy, (adv.mean(), entropy)


class Carry(NamedTuple):
    params: Params
    actor_opt: Any
    critic_opt: Any
    env_state: Any
    obs: jax.Array  # [E, N, D]
    first: jax.Array  # [E]
    hidden: jax.Array  # [E, N, H] actor hidden
    key: jax.Array
    update_count: jax.Array
    env_steps: jax.Array
    episodes: EpisodeMetrics
    eval_return: jax.Array
    hyper: Dict[str, jax.Array]


def make_policy(config: Config, env) -> Policy:
    """Deterministic policy: each agent's most likely legal action."""
    nets = make_nets(config, env)

    def act(params: Params, hidden, obs, mask, first, key):
        del key
        h, dist = nets.dist(params.actor, hidden, obs[None], mask[None], first[None])
        return dist.mode()[0].astype(jnp.int32), h

    return Policy(lambda e: jnp.zeros((e, env.num_agents, config.hidden_size)), act)


def init_params(config: Config, env, key) -> Params:
    """Fresh actor, critic and target critic (a copy of the critic)."""
    n, sharing = env.num_agents, config.parameter_sharing
    nets = make_nets(config, env)
    ka, kc = jax.random.split(key)
    dummy = (jnp.zeros((1, config.hidden_size)), jnp.zeros((1, 1, env.obs_dim + (n if sharing else 0))),
             jnp.zeros((1, 1), bool))
    if sharing:
        actor = nets.actor.init(ka, *dummy)
    else:
        actor = jax.vmap(lambda k: nets.actor.init(k, *dummy))(jax.random.split(ka, n))
    width = env.state_dim + env.obs_dim + n * env.num_actions + n
    critic = nets.critic.init(kc, jnp.zeros((1, width)))
    return Params(actor, critic, critic)


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names tunable fields carried as data."""
    if not env.is_discrete:
        raise ValueError(f"COMA needs discrete actions; {type(env).__name__} has a continuous "
                         "action space (use mappo, ippo or maddpg)")
    hyper = check_hyper(config, hyper)
    steps_per_update = config.num_envs * config.num_steps
    num_updates = count_updates(config.total_timesteps, steps_per_update, "num_envs * num_steps")
    n, e, a = env.num_agents, config.num_envs, env.num_actions
    venv = VecEnv(EpisodeStats(env), e)
    nets, policy = make_nets(config, env), make_policy(config, env)
    actor_opt = clipped_adam(config.actor_lr, config.max_grad_norm, tunable=bool(hyper))
    critic_opt = clipped_adam(config.critic_lr, config.max_grad_norm, tunable=bool(hyper))
    masks, states = jax.vmap(env.action_mask), jax.vmap(env.global_state)
    static_mask = jnp.broadcast_to(env.action_mask_static(), (e, n, a))
    cin = functools.partial(critic_inputs, num_actions=a)

    def init(key) -> Carry:
        key, kp, kr = jax.random.split(key, 3)
        obs, env_state = venv.reset(kr)
        params = init_params(config, env, kp)
        return Carry(params, actor_opt.init(params.actor), critic_opt.init(params.critic),
                     env_state, obs, jnp.ones((e,), bool), jnp.zeros((e, n, config.hidden_size)),
                     key, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     initial_episode_metrics(), jnp.asarray(jnp.nan, jnp.float32),
                     initial_values(config, hyper))

    def rollout_step(c, key):
        actor_params, env_state, obs, first, hidden = c
        act_key, boot_key, step_key = jax.random.split(key, 3)
        mask = masks(env_state.env_state)
        h, dist = nets.dist(actor_params, hidden, obs[None], mask[None], first[None])
        action = dist.sample(seed=act_key)[0].astype(jnp.int32)
        obs2, env_state2, reward, term, trunc, info = venv.step(step_key, env_state, action)
        done = jnp.all(term | trunc, axis=-1)
        # a sample of the policy at the reached observation: u_{t+1} where none is taken
        boot_mask = jnp.where(done[:, None, None], static_mask, masks(env_state2.env_state))
        _, boot = nets.dist(actor_params, h, info["final_obs"][None], boot_mask[None],
                            jnp.zeros((1, e), bool))
        out = dict(obs=obs, state=states(env_state.env_state), mask=mask, actions=action,
                   boot=boot.sample(seed=boot_key)[0].astype(jnp.int32), reward=reward,
                   term=term, done=jnp.broadcast_to(done[:, None], term.shape), resets=first,
                   final_obs=info["final_obs"], final_state=info["final_global_state"],
                   info=info)
        return (actor_params, env_state2, obs2, done, h), out

    def update(c: Carry):
        key, roll_key, eval_key = jax.random.split(c.key, 3)
        hp = HyperView(config, c.hyper)
        (_, env_state, obs, first, hidden), tr = jax.lax.scan(
            rollout_step, (c.params.actor, c.env_state, c.obs, c.first, c.hidden),
            jax.random.split(roll_key, config.num_steps))
        last = jnp.arange(config.num_steps)[:, None, None] == config.num_steps - 1
        taken_next = jnp.concatenate([tr["actions"][1:], tr["boot"][-1:]])
        next_actions = jnp.where(tr["done"] | last, tr["boot"], taken_next)
        critic_in = data_parallel(cin(tr["state"], tr["obs"], tr["actions"]), 1)
        q_target = lambda x, u: jnp.take_along_axis(  # noqa: E731
            nets.critic.apply(c.params.target_critic, x), u[..., None], -1)[..., 0]
        _, targets = gae(tr["reward"], q_target(critic_in, tr["actions"]),
                         q_target(cin(tr["final_state"], tr["final_obs"], next_actions),
                                  next_actions),
                         tr["term"], tr["done"], hp.gamma, hp.td_lambda)
        batch = Batch(tr["obs"], critic_in, tr["mask"], tr["actions"], targets, tr["resets"],
                      c.hidden)

        a_state, c_state = c.actor_opt, c.critic_opt
        if c.hyper:
            c_state = set_hyperparams(c_state, learning_rate=hp.critic_lr, max_norm=hp.max_grad_norm)
            a_state = set_hyperparams(a_state, learning_rate=hp.actor_lr, max_norm=hp.max_grad_norm)

        def critic_step(state, _):
            params, opt = state
            (loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(
                params, batch, nets=nets)
            updates, opt = critic_opt.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), jnp.stack([loss, q_mean])

        (critic, c_state), critic_aux = jax.lax.scan(
            critic_step, (c.params.critic, c_state), None, config.critic_epochs)
        q_values = nets.critic.apply(critic, batch.critic_in)
        (a_loss, (adv_mean, entropy)), grads = jax.value_and_grad(actor_loss, has_aux=True)(
            c.params.actor, batch, q_values, nets=nets,
            ent_coef=hp.ent_coef if c.hyper else None)
        updates, a_state = actor_opt.update(grads, a_state, c.params.actor)
        actor = optax.apply_updates(c.params.actor, updates)

        count = c.update_count + 1
        target = jax.tree.map(lambda new, old: jnp.where(count % config.target_update_every == 0,
                                                         new, old), critic, c.params.target_critic)
        params = Params(actor, critic, target)
        eval_return = periodic_eval(env, policy, params, eval_key, count, num_updates, config,
                                    c.eval_return)
        episodes = episode_metrics(tr["info"], c.episodes)
        env_steps = c.env_steps + steps_per_update
        metrics = loop_metrics(
            env_steps, episodes.episode_return, episodes.episode_length, eval_return,
            critic_loss=critic_aux[-1, 0], q_mean=critic_aux[-1, 1],
            actor_loss=a_loss, advantage=adv_mean, entropy=entropy)
        return Carry(params, a_state, c_state, env_state, obs, first, hidden, key, count,
                     env_steps, episodes, eval_return, c.hyper), metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; vmap it over keys to train many seeds at once."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # Small feed-forward settings for the grid worlds and quick tests.
    "grid_quick": Config(num_envs=16, num_steps=32, actor_lr=3e-3, critic_lr=3e-3,
                         total_timesteps=100_000, eval_every=20),
    # PyMARL's COMA settings (lr and critic lr 5e-4, TD(lambda) 0.8, target critic every 200
    # episodes: 12 updates of 16 envs x 25-step MPE episodes), GRU 64 actors.
    "pymarl_mpe": Config(num_envs=16, num_steps=25, hidden_size=64, recurrent=True,
                         actor_lr=5e-4, critic_lr=5e-4, td_lambda=0.8, ent_coef=0.01,
                         target_update_every=12, critic_epochs=1, gamma=0.99,
                         total_timesteps=2_000_000),
}
