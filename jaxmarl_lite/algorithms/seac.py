"""SEAC: shared experience actor-critic (Christianos et al. 2020).

Per-agent actors ``pi_i`` and critics ``V_i`` (no parameter sharing), trained as independent
advantage actor-critics (A2C: one gradient step per ``num_steps`` rollout) whose losses also
use the other agents' experience, importance-weighted by how likely agent ``i``'s policy was
to take agent ``k``'s action::

    w_ik = pi_i(a_k | o_k) / pi_k(a_k | o_k)        (w_ii = 1; no gradient through w)
    L_actor_i  = -E[log pi_i(a_i | o_i) A_ii] - lambda sum_{k != i} E[w_ik log pi_i(a_k | o_k) A_ik]
    L_critic_i =  E[(V_i(o_i) - G_ii)^2]      + lambda sum_{k != i} E[w_ik (V_i(o_k) - G_ik)^2]

``G_ik`` is agent ``k``'s reward-to-go bootstrapped with agent ``i``'s critic (GAE(lambda)
targets, :mod:`..._common.gae`; ``gae_lambda=1``: the n-step returns of the paper's A2C),
``A_ik = G_ik - V_i(o_k)``; bootstrapping runs through truncation from ``final_obs``, never
through termination. ``seac_lambda=0`` is independent actor-critic (IA2C), the paper's
baseline. Agents must be homogeneous (same observation and action spaces); discrete
actions; feed-forward networks (the PPO trunk).
"""
from __future__ import annotations

import dataclasses
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
from jaxmarl_lite.algorithms._common.networks import activation, apply_agents
from jaxmarl_lite.algorithms._common.training import (EpisodeMetrics, TrainStages, count_updates,
                                                      episode_metrics, initial_episode_metrics,
                                                      loop_metrics, train_from_stages)
from jaxmarl_lite.algorithms.ppo import Trunk
from jaxmarl_lite.wrappers import EpisodeStats, VecEnv


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    TUNABLE: ClassVar[Dict[str, Tuple[float, float]]] = {
        "lr": (0.0, INF), "max_grad_norm": (0.0, INF), "gamma": (0.0, 1.0),
        "gae_lambda": (0.0, 1.0), "seac_lambda": (0.0, INF), "ent_coef": (0.0, INF),
        "vf_coef": (0.0, INF)}
    """Fields that can be carried as data (sweeps, PBT), with their intervals."""

    total_timesteps: int = 1_000_000
    """Env-step budget per seed (``num_envs * num_steps`` per update)."""
    num_envs: int = 16
    """Parallel envs."""
    num_steps: int = 5
    """Rollout length per env per update (A2C's n)."""
    lr: float = 3e-4
    """Adam learning rate (actors and critics)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 1.0
    """Lambda of the return targets (1: n-step returns, as A2C)."""
    seac_lambda: float = 1.0
    """Weight of the other agents' experience (0: independent actor-critic)."""
    ent_coef: float = 0.01
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Critic-loss weight."""
    hidden_size: int = 64
    """Width of the actor and critic layers."""
    activation: str = "relu"
    """Hidden activation (relu, tanh, elu, gelu, silu)."""
    eval_every: int = 50
    """Updates between greedy evaluations."""
    eval_episodes: int = 64
    """Episodes per evaluation."""

    def validate(self) -> None:
        self._require_positive("total_timesteps", "num_envs", "num_steps", "lr", "max_grad_norm",
                               "hidden_size", "eval_every", "eval_episodes")
        self._require_unit("gamma", "gae_lambda")
        self._require_nonnegative("seac_lambda", "ent_coef", "vf_coef")
        activation(self.activation)


class Params(NamedTuple):
    actor: Any  # leading [N]: one actor per agent
    critic: Any  # leading [N]


class Batch(NamedTuple):
    """A rollout, time-major: ``obs``/``final_obs [T, E, N, D]``, ``mask [T, E, N, A]``,
    ``actions [T, E, N]`` int32, ``log_prob [T, E, N]`` (the behaviour policy's, each agent's
    own), ``reward``/``term``/``done [T, E, N]``."""

    obs: jax.Array
    final_obs: jax.Array
    mask: jax.Array
    actions: jax.Array
    log_prob: jax.Array
    reward: jax.Array
    term: jax.Array
    done: jax.Array


class Nets(NamedTuple):
    actor: Trunk
    critic: Trunk
    config: Config


def make_nets(config: Config, env) -> Nets:
    kw = dict(hidden_size=config.hidden_size, recurrent=False, act=config.activation)
    return Nets(Trunk(env.num_actions, out_scale=0.01, **kw), Trunk(1, out_scale=1.0, **kw),
                config)


def cross_apply(net: Trunk, params, x):
    """Every agent's network on every agent's inputs: ``params`` ``[N, ...]``, ``x [T, E, N,
    D]`` -> ``[T, E, N_net, N_data, out]``."""
    t, e, n, d = x.shape
    flat = x.reshape(t, e * n, d)
    h0, resets = jnp.zeros((e * n, net.hidden_size)), jnp.zeros((t, e * n), bool)
    y = jax.vmap(lambda p: net.apply(p, h0, flat, resets)[1])(params)  # [N_net, T, E*N, out]
    return jnp.moveaxis(y.reshape(n, t, e, n, -1), 0, 2)


def importance_weights(log_prob_cross, behaviour_log_prob, seac_lambda):
    """``log_prob_cross [..., N_i, N_k]`` (``log pi_i(a_k | o_k)``), ``behaviour_log_prob
    [..., N_k]`` (``log pi_k(a_k | o_k)``) -> the loss weights ``[..., N_i, N_k]``: 1 on the
    diagonal, ``seac_lambda * pi_i / pi_k`` elsewhere (no gradient)."""
    n = log_prob_cross.shape[-1]
    ratio = jnp.exp(log_prob_cross - behaviour_log_prob[..., None, :])
    eye = jnp.eye(n, dtype=bool)
    return jax.lax.stop_gradient(jnp.where(eye, 1.0, seac_lambda * ratio))


def loss(params: Params, batch: Batch, *, nets: Nets, hyper=None):
    """SEAC loss of one rollout (time-major :class:`Batch`) -> ``(total, (actor_loss,
    critic_loss, entropy, mean off-diagonal importance weight))``; ``hyper`` overrides
    tunable config fields.

    Steps: every agent ``i``'s actor and critic run on every agent ``k``'s data
    (:func:`cross_apply`); value targets are GAE(``gae_lambda``) returns of ``V_i`` on
    ``k``'s rewards (bootstrapping through truncation from ``final_obs``, no gradient through
    the targets); weights ``1`` on ``i = k`` and ``seac_lambda * pi_i(u_k|o_k) /
    pi_k(u_k|o_k)`` off it (:func:`importance_weights`, no gradient); no advantage
    normalisation; ``total = actor + vf_coef * critic - ent_coef * entropy`` of each agent's
    own policy, summed over agents."""
    cfg = HyperView(nets.config, hyper or {})
    chex.assert_equal_shape([batch.actions, batch.log_prob, batch.reward])
    logits = cross_apply(nets.actor, params.actor, batch.obs)  # [T, E, Ni, Nk, A]
    dist = masked_categorical(logits, batch.mask[:, :, None])
    log_prob = dist.log_prob(batch.actions[:, :, None, :])  # [T, E, Ni, Nk]
    value = cross_apply(nets.critic, params.critic, batch.obs)[..., 0]  # V_i(o_k)
    next_value = cross_apply(nets.critic, params.critic, batch.final_obs)[..., 0]
    per_k = lambda x: x[:, :, None, :]  # noqa: E731  agent k's data for every network i
    _, targets = gae(per_k(batch.reward), jax.lax.stop_gradient(value),
                     jax.lax.stop_gradient(next_value), per_k(batch.term), per_k(batch.done),
                     cfg.gamma, cfg.gae_lambda)
    weights = importance_weights(log_prob, batch.log_prob, cfg.seac_lambda)
    adv = jax.lax.stop_gradient(targets - value)
    actor_loss = -(weights * log_prob * adv).sum((-2, -1)).mean()
    critic_loss = (weights * (value - jax.lax.stop_gradient(targets)) ** 2).sum((-2, -1)).mean()
    own = jnp.diagonal(dist.entropy(), axis1=-2, axis2=-1)  # each agent's own policy [T, E, N]
    entropy = own.sum(-1).mean()
    n = weights.shape[-1]
    off = (weights.sum((-2, -1)) - n) / max(n * (n - 1), 1) / jnp.maximum(cfg.seac_lambda, 1e-8)
    total = actor_loss + cfg.vf_coef * critic_loss - cfg.ent_coef * entropy
    return total, (actor_loss, critic_loss, entropy / n, off.mean())


class Carry(NamedTuple):
    params: Params
    opt_state: Any
    env_state: Any
    obs: jax.Array  # [E, N, D]
    key: jax.Array
    update_count: jax.Array
    env_steps: jax.Array
    episodes: EpisodeMetrics
    eval_return: jax.Array
    hyper: Dict[str, jax.Array]


def make_policy(config: Config, env) -> Policy:
    """Deterministic policy: each agent's most likely legal action under its own actor."""
    nets = make_nets(config, env)

    def act(params: Params, carry, obs, mask, first, key):
        del key
        _, logits = apply_agents(nets.actor, False, params.actor,
                                 jnp.zeros(obs.shape[:2] + (config.hidden_size,)), obs[None],
                                 first[None])
        return masked_categorical(logits[0], mask).mode().astype(jnp.int32), carry

    return Policy(lambda e: (), act)


def init_params(config: Config, env, key) -> Params:
    """Fresh per-agent actors and critics (leading ``[N]`` axis)."""
    nets = make_nets(config, env)
    dummy = (jnp.zeros((1, config.hidden_size)), jnp.zeros((1, 1, env.obs_dim)),
             jnp.zeros((1, 1), bool))
    per_agent = lambda net, k: jax.vmap(lambda kk: net.init(kk, *dummy))(  # noqa: E731
        jax.random.split(k, env.num_agents))
    ka, kc = jax.random.split(key)
    return Params(per_agent(nets.actor, ka), per_agent(nets.critic, kc))


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names tunable fields carried as data."""
    if not env.is_discrete:
        raise ValueError(f"SEAC needs discrete actions; {type(env).__name__} has a continuous "
                         "action space")
    if len(set(env.obs_sizes)) > 1 or len(set(env.action_sizes)) > 1:
        raise ValueError(f"SEAC shares experience between homogeneous agents; "
                         f"{type(env).__name__}'s observation sizes {env.obs_sizes} / action "
                         f"counts {env.action_sizes} differ")
    hyper = check_hyper(config, hyper)
    steps_per_update = config.num_envs * config.num_steps
    num_updates = count_updates(config.total_timesteps, steps_per_update, "num_envs * num_steps")
    e = config.num_envs
    venv = VecEnv(EpisodeStats(env), e)
    nets, policy = make_nets(config, env), make_policy(config, env)
    optimizer = clipped_adam(config.lr, config.max_grad_norm, tunable=bool(hyper))
    masks = jax.vmap(env.action_mask)
    zeros_h = jnp.zeros((e, env.num_agents, config.hidden_size))

    def init(key) -> Carry:
        key, kp, kr = jax.random.split(key, 3)
        obs, env_state = venv.reset(kr)
        params = init_params(config, env, kp)
        return Carry(params, optimizer.init(params), env_state, obs, key,
                     jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     initial_episode_metrics(), jnp.asarray(jnp.nan, jnp.float32),
                     initial_values(config, hyper))

    def rollout_step(c, key):
        actor_params, env_state, obs = c
        act_key, step_key = jax.random.split(key)
        mask = masks(env_state.env_state)
        _, logits = apply_agents(nets.actor, False, actor_params, zeros_h, obs[None],
                                 jnp.zeros((1, e), bool))
        dist = masked_categorical(logits[0], mask)
        action = dist.sample(seed=act_key).astype(jnp.int32)
        obs2, env_state2, reward, term, trunc, info = venv.step(step_key, env_state, action)
        done = jnp.broadcast_to(jnp.all(term | trunc, axis=-1)[:, None], term.shape)
        out = dict(obs=obs, final_obs=info["final_obs"], mask=mask, actions=action,
                   log_prob=dist.log_prob(action), reward=reward, term=term, done=done,
                   info=info)
        return (actor_params, env_state2, obs2), out

    def update(c: Carry):
        key, roll_key, eval_key = jax.random.split(c.key, 3)
        (_, env_state, obs), tr = jax.lax.scan(rollout_step, (c.params.actor, c.env_state, c.obs),
                                               jax.random.split(roll_key, config.num_steps))
        batch = Batch(*[tr[f] for f in Batch._fields])
        opt_state = c.opt_state
        if c.hyper:
            hp = HyperView(config, c.hyper)
            opt_state = set_hyperparams(opt_state, learning_rate=hp.lr, max_norm=hp.max_grad_norm)
        (_, aux), grads = jax.value_and_grad(loss, has_aux=True)(c.params, batch, nets=nets,
                                                                 hyper=c.hyper)
        updates, opt_state = optimizer.update(grads, opt_state, c.params)
        params = optax.apply_updates(c.params, updates)
        count = c.update_count + 1
        eval_return = periodic_eval(env, policy, params, eval_key, count, num_updates, config,
                                    c.eval_return)
        episodes = episode_metrics(tr["info"], c.episodes)
        env_steps = c.env_steps + steps_per_update
        metrics = loop_metrics(
            env_steps, episodes.episode_return, episodes.episode_length, eval_return,
            actor_loss=aux[0], critic_loss=aux[1], entropy=aux[2], importance_weight=aux[3])
        return Carry(params, opt_state, env_state, obs, key, count, env_steps, episodes,
                     eval_return, c.hyper), metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; vmap it over keys to train many seeds at once."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # The paper's A2C settings: 5-step returns, Adam 3e-4, entropy 0.01, lambda 1.
    "paper": Config(num_envs=16, num_steps=5, lr=3e-4, gamma=0.99, seac_lambda=1.0,
                    ent_coef=0.01, hidden_size=64, total_timesteps=5_000_000),
    # Small settings for the grid worlds and quick tests.
    "grid_quick": Config(num_envs=16, num_steps=8, lr=3e-3, total_timesteps=100_000,
                         eval_every=20),
}
