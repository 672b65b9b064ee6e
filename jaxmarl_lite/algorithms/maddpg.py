"""MADDPG (Lowe et al. 2017): decentralised deterministic actors, one centralised critic per
agent, off-policy from a replay buffer, all in one compiled loop.

One update (:func:`make_stages`' ``update``) = ``num_steps`` exploring steps of ``num_envs``
vmapped envs (auto-resetting; episodes run across updates), the transitions added to a
flashbax item buffer, then ``num_sgd_steps`` gradient steps, each a critic step, an actor
step and a polyak update of both target networks; every ``eval_every`` updates the
deterministic policy is evaluated.

Critic ``i``: ``Q_i(x, a_1..a_N)`` with ``x`` all agents' observations (``critic_input=
"joint_obs"``) or the env's global state, trained on agent ``i``'s own reward (or the team
mean with ``team_reward``), so competitive and mixed tasks (simple_tag, simple_adversary)
work unchanged. Targets bootstrap through truncation from the pre-reset ``final_obs`` and
never through termination. Actor ``i`` follows ``grad Q_i`` with its own action replaced by
``mu_i(o_i)`` and the others taken from the buffer.

Actions: continuous actors squash with ``tanh`` and scale to the action box, exploring with
Gaussian noise (std a fraction of the half-range, annealed linearly); discrete actors output
logits over legal actions, explore by sampling (Gumbel-max) and are trained through a
straight-through Gumbel-softmax (one-hot forward, softmax gradient). Heterogeneous agents
follow the env's padding: padded observation entries are zeros, padded discrete actions are
masked, padded continuous dimensions are zeroed.

Parameters (``sharing``): ``none`` = every agent its own actor and critic (the paper),
``all`` = one of each with an agent-id one-hot, ``team`` = one per team (agents whose names
share a prefix before the last ``_``: ``adversary_*`` / ``agent_*``) with ids. Each parameter
group has its own Adam state and gradient-norm clip (per-agent optimisers, as in the paper).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, Dict, Literal, NamedTuple, Sequence, Tuple

import chex
import flashbax as fbx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmarl_lite.algorithms._common.config import ConfigBase
from jaxmarl_lite.algorithms._common.distributions import ILLEGAL_LOGIT
from jaxmarl_lite.algorithms._common.evaluation import Policy, periodic_eval
from jaxmarl_lite.algorithms._common.hyper import (INF, HyperView, carried_schedule,
                                                   check_hyper, clipped_adam, initial_values,
                                                   set_hyperparams)
from jaxmarl_lite.algorithms._common.networks import MLP, activation, agent_id_onehot
from jaxmarl_lite.algorithms._common.training import (EpisodeMetrics, TrainStages, count_updates,
                                                      episode_metrics, initial_episode_metrics,
                                                      loop_metrics, train_from_stages)
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.wrappers import EpisodeStats, VecEnv


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    TUNABLE: ClassVar[Dict[str, Tuple[float, float]]] = {
        "actor_lr": (0.0, INF), "critic_lr": (0.0, INF), "max_grad_norm": (0.0, INF),
        "gamma": (0.0, 1.0), "tau": (0.0, 1.0), "noise_start": (0.0, INF),
        "noise_end": (0.0, INF), "noise_decay_fraction": (0.0, 1.0),
        "gumbel_temperature": (0.0, INF), "actor_reg": (0.0, INF)}
    """Fields that can be carried as data (sweeps, PBT; :mod:`..._common.hyper`), with the
    interval their values stay in."""

    total_timesteps: int = 2_000_000
    """Env-step budget per seed (``num_envs * num_steps`` per update)."""
    num_envs: int = 32
    """Parallel envs."""
    num_steps: int = 25
    """Exploring steps per env per update."""
    num_sgd_steps: int = 32
    """Gradient steps (critic + actor + target update) per update."""
    buffer_size: int = 200_000
    """Replay capacity in transitions."""
    batch_size: int = 256
    """Transitions per gradient step."""
    learning_starts: int = 25_600
    """Env steps collected before the first gradient step."""
    actor_lr: float = 1e-2
    """Adam learning rate of the actors."""
    critic_lr: float = 1e-2
    """Adam learning rate of the critics."""
    max_grad_norm: float = 0.5
    """Gradient-norm clip, per parameter group (agent / team / all)."""
    gamma: float = 0.95
    """Discount."""
    tau: float = 0.01
    """Polyak rate of the target networks (``target <- tau * online + (1 - tau) * target``)."""
    hidden_size: int = 64
    """Width of the actor and critic MLPs."""
    num_layers: int = 2
    """Hidden layers of the actor and critic MLPs (0 = linear)."""
    activation: str = "relu"
    """Hidden activation (relu, tanh, elu, gelu, silu)."""
    sharing: Literal["none", "all", "team"] = "none"
    """Parameters per agent (``none``), shared by all (``all``) or per team (``team``)."""
    critic_input: Literal["joint_obs", "state"] = "joint_obs"
    """Critic sees all agents' observations (the paper) or the env's global state."""
    team_reward: bool = False
    """Train every critic on the team reward (mean over agents) instead of its own reward."""
    noise_start: float = 0.3
    """Continuous exploration std at the start, as a fraction of the action half-range."""
    noise_end: float = 0.05
    """Continuous exploration std after the anneal."""
    noise_decay_fraction: float = 0.5
    """Fraction of the budget over which the exploration std anneals linearly."""
    gumbel_temperature: float = 1.0
    """Temperature of the straight-through Gumbel-softmax (discrete actions)."""
    actor_reg: float = 1e-3
    """Weight of the squared actor pre-activations (logits / pre-tanh) in the actor loss."""
    eval_every: int = 25
    """Updates between deterministic evaluations."""
    eval_episodes: int = 64
    """Episodes per evaluation."""

    def validate(self) -> None:
        self._require_positive("total_timesteps", "num_envs", "num_steps", "num_sgd_steps",
                               "buffer_size", "batch_size", "actor_lr", "critic_lr",
                               "max_grad_norm", "hidden_size", "gumbel_temperature",
                               "eval_every", "eval_episodes")
        self._require_nonnegative("learning_starts", "num_layers", "noise_start", "noise_end",
                                  "actor_reg")
        self._require_unit("gamma", "noise_decay_fraction")
        self._require(0.0 < self.tau <= 1.0, "tau", "in (0, 1]")
        self._require(self.batch_size <= self.buffer_size, "batch_size", "<= buffer_size")
        per_update = self.num_envs * self.num_steps
        self._require(per_update <= self.buffer_size, "buffer_size",
                      f">= num_envs * num_steps = {per_update} (the transitions one update "
                      f"adds)")
        self._require(self.learning_starts < self.total_timesteps, "learning_starts",
                      f"< total_timesteps={self.total_timesteps} (else nothing is learned)")
        activation(self.activation)


# ----------------------------------------------------------------------------- networks
def parameter_groups(env, sharing: str) -> Tuple[int, ...]:
    """Parameter-group index of every agent: ``none`` -> ``0..N-1``, ``all`` -> zeros,
    ``team`` -> one group per agent-name prefix (before the last ``_``), in order."""
    if sharing == "none":
        return tuple(range(env.num_agents))
    if sharing == "all":
        return (0,) * env.num_agents
    teams: dict = {}
    return tuple(teams.setdefault(name.rsplit("_", 1)[0], len(teams)) for name in env.agents)


class Nets(NamedTuple):
    """Actor and critic modules with the static facts needed to apply them per agent.

    ``actor.apply(p, o [..., F]) -> [..., A]`` (logits or pre-tanh means) and
    ``critic.apply(p, z [..., F]) -> [..., 1]``; parameters have a leading group axis
    ``[G]`` gathered to agents through ``groups`` (an agent-id one-hot is appended when
    groups are shared)."""

    actor: nn.Module
    critic: nn.Module
    groups: Tuple[int, ...]
    discrete: bool
    low: float
    high: float
    dim_mask: np.ndarray  # [N, A] 1 on each agent's true action dimensions (continuous)
    joint_obs: bool  # critic input: all observations (True) or the global state

    @property
    def shared(self) -> bool:
        return len(set(self.groups)) < len(self.groups)

    def _apply(self, net: nn.Module, params, x):
        """``x [..., N, F] -> [..., N, out]``, agent ``i`` through group ``groups[i]``."""
        n = len(self.groups)
        if self.shared:
            x = jnp.concatenate([x, agent_id_onehot(n, x.shape[:-2])], axis=-1)
        per_agent = jax.tree.map(lambda p: p[np.asarray(self.groups)], params)
        return jax.vmap(net.apply, in_axes=(0, -2), out_axes=-2)(per_agent, x)

    def actor_out(self, params, obs):
        """``obs [..., N, D] -> [..., N, A]`` raw actor outputs."""
        return self._apply(self.actor, params, obs)

    def deterministic(self, out, mask):
        """Greedy legal one-hot (discrete) or the squashed, scaled action; ``[..., N, A]``."""
        if self.discrete:
            greedy = jnp.argmax(jnp.where(mask > 0, out, ILLEGAL_LOGIT), axis=-1)
            return jax.nn.one_hot(greedy, out.shape[-1])
        return self.scale(out)

    def scale(self, out):
        action = self.low + 0.5 * (jnp.tanh(out) + 1.0) * (self.high - self.low)
        return action * self.dim_mask

    def q(self, params, x, joint):
        """Critics on one joint action per critic: ``x [B, X]``, ``joint [B, N, N, A]``
        (``joint[:, i]`` is what critic ``i`` sees) -> ``[B, N]``."""
        b, n = joint.shape[:2]
        z = jnp.concatenate([jnp.broadcast_to(x[:, None], (b, n, x.shape[-1])),
                             joint.reshape(b, n, -1)], axis=-1)
        return self._apply(self.critic, params, z)[..., 0]


def critic_x(nets: Nets, obs, state):
    """Critic's observation part: ``obs [B, N, D]`` flattened, or ``state [B, S]``."""
    return obs.reshape(obs.shape[0], -1) if nets.joint_obs else state


def gumbel_softmax_st(key, logits, mask, temperature: float):
    """Straight-through Gumbel-softmax ``[..., A]``: the forward value is the one-hot of a
    sampled legal action (Gumbel-max), the gradient that of ``softmax((logits + g) / T)``."""
    g = jax.random.gumbel(key, logits.shape)
    soft = jax.nn.softmax((jnp.where(mask > 0, logits, ILLEGAL_LOGIT) + g) / temperature, -1)
    hard = jax.nn.one_hot(jnp.argmax(soft, -1), logits.shape[-1])
    return hard + (soft - jax.lax.stop_gradient(soft))  # exactly `hard` in the forward pass


def exploration_action(nets: Nets, out, mask, key, noise):
    """Behaviour action ``[..., N, A]`` (one-hot or continuous) from actor outputs: a
    Gumbel-max sample, or the scaled action plus ``noise * half-range`` Gaussian noise,
    clipped to the box."""
    if nets.discrete:
        return jax.lax.stop_gradient(gumbel_softmax_st(key, out, mask, 1.0))
    half = 0.5 * (nets.high - nets.low)
    noisy = nets.scale(out) + noise * half * jax.random.normal(key, out.shape)
    return jnp.clip(noisy, nets.low, nets.high) * nets.dim_mask


# ------------------------------------------------------------------------------ losses
class Transition(NamedTuple):
    """One stored transition (flashbax item); ``actions`` are one-hot when discrete."""

    obs: jax.Array  # [N, D]
    state: jax.Array  # [S]
    mask: jax.Array  # [N, A]
    actions: jax.Array  # [N, A]
    rewards: jax.Array  # [N]
    terminated: jax.Array  # [N] bool
    next_obs: jax.Array  # [N, D] (pre-reset at an episode's end)
    next_state: jax.Array  # [S]
    next_mask: jax.Array  # [N, A]


class Params(NamedTuple):
    actor: Any  # leaves [G, ...]
    critic: Any  # leaves [G, ...]


def critic_targets(target: Params, batch: Transition, key, *, nets: Nets, gamma: float,
                   temperature: float):
    """``y_i = r_i + gamma (1 - term_i) Q'_i(x', mu'_1(o'_1), ..., mu'_N(o'_N))`` ``[B, N]``
    (discrete target actions: hard Gumbel-softmax samples of the target actors)."""
    out = nets.actor_out(target.actor, batch.next_obs)
    if nets.discrete:
        next_a = gumbel_softmax_st(key, out, batch.next_mask, temperature)
    else:
        next_a = nets.scale(out)
    n = next_a.shape[1]
    joint = jnp.broadcast_to(next_a[:, None], (next_a.shape[0], n) + next_a.shape[1:])
    q_next = nets.q(target.critic, critic_x(nets, batch.next_obs, batch.next_state), joint)
    chex.assert_equal_shape([q_next, batch.rewards])
    return batch.rewards + gamma * (1.0 - batch.terminated.astype(jnp.float32)) * q_next


def critic_loss(critic_params, batch: Transition, targets, *, nets: Nets):
    """Sum over agents of the mean squared TD error -> ``(loss, mean Q)``;
    ``targets [B, N]`` from :func:`critic_targets`."""
    b, n = batch.rewards.shape
    joint = jnp.broadcast_to(batch.actions[:, None], (b, n) + batch.actions.shape[1:])
    q = nets.q(critic_params, critic_x(nets, batch.obs, batch.state), joint)
    return ((q - jax.lax.stop_gradient(targets)) ** 2).mean(0).sum(), q.mean()


def actor_loss(actor_params, critic_params, batch: Transition, key, *, nets: Nets,
               temperature: float, reg: float):
    """``-sum_i mean_B Q_i(x, a_1..mu_i(o_i)..a_N) + reg * mean(out^2)`` -> ``(loss,
    mean Q)``: critic ``i`` sees agent ``i``'s own action from its actor (straight-through
    Gumbel-softmax when discrete) and the others' buffer actions."""
    out = nets.actor_out(actor_params, batch.obs)  # [B, N, A]
    if nets.discrete:
        own = gumbel_softmax_st(key, out, batch.mask, temperature)
        legal = batch.mask
    else:
        own = nets.scale(out)
        legal = jnp.broadcast_to(nets.dim_mask, out.shape)
    n = out.shape[1]
    swap = jnp.eye(n, dtype=bool)[None, :, :, None]  # [1, critic i, agent j, 1]
    joint = jnp.where(swap, own[:, None], batch.actions[:, None])  # [B, N, N, A]
    q = nets.q(critic_params, critic_x(nets, batch.obs, batch.state), joint)
    penalty = (out**2 * legal).sum() / jnp.maximum(legal.sum(), 1.0)
    return -q.mean(0).sum() + reg * penalty, q.mean()


def polyak(target, online, tau: float):
    """``tau * online + (1 - tau) * target`` leafwise."""
    return optax.incremental_update(online, target, tau)


# ----------------------------------------------------------------------------- training
class Carry(NamedTuple):
    params: Params
    target: Params
    actor_opt: Any
    critic_opt: Any
    buffer_state: Any
    env_state: Any
    obs: jax.Array  # [E, N, D]
    key: jax.Array
    update_count: jax.Array
    env_steps: jax.Array
    episodes: EpisodeMetrics
    eval_return: jax.Array
    hyper: Dict[str, jax.Array]  # carried tunable values ({} for a plain config)


def make_nets(config: Config, env) -> Nets:
    hidden = (config.hidden_size,) * config.num_layers
    space = env.action_space
    n, a = env.num_agents, env.num_actions
    dim_mask = (np.arange(a)[None] < np.asarray(env.action_sizes)[:, None]).astype(np.float32)
    low, high = (0.0, 1.0) if env.is_discrete else (float(space.low), float(space.high))
    return Nets(MLP(hidden, a, config.activation, out_scale=0.01),
                MLP(hidden, 1, config.activation, out_scale=1.0),
                parameter_groups(env, config.sharing), env.is_discrete, low, high,
                dim_mask if not env.is_discrete else np.ones((n, a), np.float32),
                config.critic_input == "joint_obs")


def env_actions(nets: Nets, actions):
    """Buffer/critic actions ``[..., N, A]`` -> what ``env.step`` takes."""
    return jnp.argmax(actions, -1).astype(jnp.int32) if nets.discrete else actions


def make_policy(config: Config, env) -> Policy:
    """Deterministic policy: greedy legal action, or the squashed actor mean."""
    nets = make_nets(config, env)

    def act(params: Params, carry, obs, mask, first, key):
        del first, key
        return env_actions(nets, nets.deterministic(nets.actor_out(params.actor, obs), mask)), carry

    return Policy(lambda num_envs: (), act)


def check_action_options(config: Config, env, hyper: Sequence[str] = ()) -> None:
    """Options of the other action type are errors, not silently ignored (set in the
    config or swept as ``hyper``): Gaussian exploration noise applies to continuous
    actions, the Gumbel-softmax temperature to discrete ones."""
    default = Config()
    other = (("noise_start", "noise_end", "noise_decay_fraction") if env.is_discrete
             else ("gumbel_temperature",))
    kind = "discrete" if env.is_discrete else "continuous"
    ignored = [f for f in other if getattr(config, f) != getattr(default, f) or f in hyper]
    if ignored:
        raise ValueError(f"{type(env).__name__} has {kind} actions, so MADDPG's "
                         f"{', '.join(ignored)} would be ignored; leave "
                         f"{'them' if len(ignored) > 1 else 'it'} at the default (and out "
                         "of sweeps)")


def init_params(config: Config, env, key) -> Params:
    """Fresh actor and critic parameters of ``config`` for ``env``: one set per parameter
    group (``[G]`` leading axis; one group with parameter sharing, else one per agent)."""
    return _init_params(env, make_nets(config, env), *jax.random.split(key))


def _init_params(env, nets, actor_key, critic_key) -> Params:
    n, num_groups = env.num_agents, len(set(nets.groups))
    ids = n if nets.shared else 0
    x_dim = n * env.obs_dim if nets.joint_obs else env.state_dim
    init_group = lambda net, k, d: jax.vmap(  # noqa: E731
        lambda kk: net.init(kk, jnp.zeros((1, d))))(jax.random.split(k, num_groups))
    return Params(init_group(nets.actor, actor_key, env.obs_dim + ids),
                  init_group(nets.critic, critic_key, x_dim + n * env.num_actions + ids))


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names tunable fields carried as data
    (``carry.hyper``, see :mod:`jaxmarl_lite.algorithms._common.hyper`)."""
    hyper = check_hyper(config, hyper)
    check_action_options(config, env, hyper)
    steps_per_update = config.num_envs * config.num_steps
    num_updates = count_updates(config.total_timesteps, steps_per_update, "num_envs * num_steps")
    n, e = env.num_agents, config.num_envs
    nets = make_nets(config, env)
    venv = VecEnv(EpisodeStats(env), e)
    policy = make_policy(config, env)
    masks, states = jax.vmap(env.action_mask), jax.vmap(env.global_state)
    static_mask = env.action_mask_static()
    opt = lambda lr: clipped_adam(lr, config.max_grad_norm, tunable=bool(hyper))  # noqa: E731
    actor_opt, critic_opt = opt(config.actor_lr), opt(config.critic_lr)
    per_group = lambda f: jax.vmap(f)  # noqa: E731  (one optimiser per parameter group)
    buffer = fbx.make_item_buffer(config.buffer_size, config.batch_size, config.batch_size,
                                  add_batches=True)
    noise_at = optax.linear_schedule(
        config.noise_start, config.noise_end,
        max(int(config.noise_decay_fraction * config.total_timesteps), 1))
    targets_fn = functools.partial(critic_targets, nets=nets, gamma=config.gamma,
                                   temperature=config.gumbel_temperature)
    critic_grad = jax.value_and_grad(functools.partial(critic_loss, nets=nets), has_aux=True)
    actor_grad = jax.value_and_grad(functools.partial(
        actor_loss, nets=nets, temperature=config.gumbel_temperature, reg=config.actor_reg),
        has_aux=True)

    def init(key) -> Carry:
        key, ka, kc, kr = jax.random.split(key, 4)
        obs, env_state = venv.reset(kr)
        params = _init_params(env, nets, ka, kc)
        a = env.num_actions
        example = Transition(obs[0], jnp.zeros((env.state_dim,)), jnp.zeros((n, a)),
                             jnp.zeros((n, a)), jnp.zeros((n,)), jnp.zeros((n,), bool), obs[0],
                             jnp.zeros((env.state_dim,)), jnp.zeros((n, a)))
        return Carry(params, params, per_group(actor_opt.init)(params.actor),
                     per_group(critic_opt.init)(params.critic), buffer.init(example), env_state,
                     obs, key, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     initial_episode_metrics(), jnp.asarray(jnp.nan, jnp.float32),
                     initial_values(config, hyper))

    def explore_step(c, key):
        params, noise, env_state, obs = c
        act_key, step_key = jax.random.split(key)
        mask = masks(env_state.env_state)
        out = nets.actor_out(params.actor, obs)
        actions = exploration_action(nets, out, mask, act_key, noise)
        obs2, env_state2, reward, term, trunc, info = venv.step(
            step_key, env_state, env_actions(nets, actions))
        if config.team_reward:
            reward = jnp.broadcast_to(reward.mean(-1, keepdims=True), reward.shape)
        done = jnp.all(term | trunc, axis=-1)
        # past an episode's end only the static (padding) mask is known
        next_mask = jnp.where(done[:, None, None], static_mask, masks(env_state2.env_state))
        tr = Transition(obs, states(env_state.env_state), mask, actions, reward, term,
                        info["final_obs"], info["final_global_state"], next_mask)
        return (params, noise, env_state2, obs2), (tr, info)

    def sgd_step(state, key):
        params, target, actor_state, critic_state, buffer_state, hyper_values = state
        hp = HyperView(config, hyper_values)
        sample_key, target_key, actor_key = jax.random.split(key, 3)
        batch = data_parallel(buffer.sample(buffer_state, sample_key).experience)
        y = targets_fn(target, batch, target_key, gamma=hp.gamma,
                       temperature=hp.gumbel_temperature)
        if hyper:
            critic_state = set_hyperparams(critic_state, learning_rate=hp.critic_lr,
                                           max_norm=hp.max_grad_norm)
            actor_state = set_hyperparams(actor_state, learning_rate=hp.actor_lr,
                                          max_norm=hp.max_grad_norm)
        (c_loss, q_mean), grads = critic_grad(params.critic, batch, y)
        updates, critic_state = per_group(critic_opt.update)(grads, critic_state, params.critic)
        critic = optax.apply_updates(params.critic, updates)
        (a_loss, _), grads = actor_grad(params.actor, critic, batch, actor_key,
                                        temperature=hp.gumbel_temperature, reg=hp.actor_reg)
        updates, actor_state = per_group(actor_opt.update)(grads, actor_state, params.actor)
        params = Params(optax.apply_updates(params.actor, updates), critic)
        target = polyak(target, params, hp.tau)
        return ((params, target, actor_state, critic_state, buffer_state, hyper_values),
                (c_loss, a_loss, q_mean))

    def update(c: Carry):
        key, roll_key, learn_key, eval_key = jax.random.split(c.key, 4)
        noise = carried_schedule(config, c.hyper, "noise_start", "noise_end",
                                 "noise_decay_fraction", config.total_timesteps,
                                 noise_at)(c.env_steps)
        (_, _, env_state, obs), (tr, info) = jax.lax.scan(
            explore_step, (c.params, noise, c.env_state, c.obs),
            jax.random.split(roll_key, config.num_steps))
        flat = jax.tree.map(lambda x: x.reshape((steps_per_update,) + x.shape[2:]), tr)
        buffer_state = buffer.add(c.buffer_state, flat)
        env_steps = c.env_steps + steps_per_update
        start = (c.params, c.target, c.actor_opt, c.critic_opt, buffer_state, c.hyper)

        def learn(_):
            (p, t, ao, co, *_), aux = jax.lax.scan(
                sgd_step, start, jax.random.split(learn_key, config.num_sgd_steps))
            return (p, t, ao, co), jnp.stack(aux).mean(-1)

        def skip(_):
            return start[:4], jnp.zeros((3,))

        ready = buffer.can_sample(buffer_state) & (env_steps >= config.learning_starts)
        (params, target, actor_state, critic_state), aux = jax.lax.cond(ready, learn, skip, None)
        count = c.update_count + 1
        eval_return = periodic_eval(env, policy, params, eval_key, count, num_updates, config,
                                    c.eval_return)
        episodes = episode_metrics(info, c.episodes)
        metrics = loop_metrics(
            env_steps, episodes.episode_return, episodes.episode_length, eval_return,
            critic_loss=aux[0], actor_loss=aux[1], q_mean=aux[2],
            noise=jnp.asarray(noise, jnp.float32))
        return Carry(params, target, actor_state, critic_state, buffer_state, env_state, obs,
                     key, count, env_steps, episodes, eval_return, c.hyper), metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; vmap it over keys to train many seeds at once."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # Lowe et al. 2017 (MADDPG) and its reference code's MPE defaults: Adam 1e-2, gamma 0.95,
    # batch 1024, 2x64 ReLU MLPs, tau 0.01, grad clip 0.5, buffer 1e6, one gradient step per
    # 100 env steps, learning after 1024 * 25 steps, 25-step episodes (one env there; here
    # 4 envs x 25 steps and one gradient step per update keep that ratio).
    "maddpg_paper": Config(num_envs=4, num_steps=25, num_sgd_steps=1, buffer_size=1_000_000,
                           batch_size=1024, learning_starts=25_600, actor_lr=1e-2,
                           critic_lr=1e-2, gamma=0.95, tau=0.01, max_grad_norm=0.5,
                           hidden_size=64, num_layers=2, sharing="none",
                           total_timesteps=2_000_000),
    # Vectorised defaults used by the benchmarks: 32 envs x 25 steps and 32 gradient steps of
    # 256 transitions per update: the paper's sample reuse (batch / env steps per gradient
    # step ~ 10) with 4x more, smaller steps, which learns faster per env step on MPE
    # (measured: simple_spread at 200k steps), and a 200k-transition buffer.
    "mpe_fast": Config(),
    # Tiny settings for tests and smoke runs.
    "quick": Config(total_timesteps=20_000, num_envs=16, num_steps=25, num_sgd_steps=16,
                    buffer_size=20_000, batch_size=256, learning_starts=2_000, eval_every=10,
                    eval_episodes=32),
}
