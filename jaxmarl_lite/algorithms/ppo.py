"""Multi-agent PPO: MAPPO (centralised critic) and IPPO (local critic), one implementation.

One update (:func:`make_stages`' ``update``) = ``num_steps`` steps of ``num_envs`` vmapped
envs (auto-resetting, so episodes run across updates), GAE with bootstrapping through
truncation from the pre-reset ``final_obs``/``final_global_state`` (never through
termination), then ``update_epochs`` epochs over ``num_minibatches`` minibatches of whole
env sequences (so recurrent agents replay their sequences from the stored initial hidden
state, resetting at episode starts). Clipped surrogate, clipped value loss, entropy bonus,
value normalisation (running mean/std of the targets), Adam with global-norm clipping and
optional linear LR annealing (Yu et al. 2022's MAPPO details).

Critic inputs (``critic``): ``centralised`` = the global state (one value shared by all
agents; for team-reward tasks), ``agent_specific`` = global state + agent id (MAPPO's
agent-specific state, the default), ``local`` = the agent's own observation + id (IPPO).
Policies are distrax distributions: a masked categorical (illegal actions get probability
0) or a diagonal Gaussian whose samples the env clips to its action box.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, Dict, Literal, NamedTuple, Optional, Sequence, Tuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmarl_lite.algorithms._common.config import ConfigBase
from jaxmarl_lite.algorithms._common.distributions import diagonal_gaussian, masked_categorical
from jaxmarl_lite.algorithms._common.evaluation import Policy, periodic_eval
from jaxmarl_lite.algorithms._common.gae import gae
from jaxmarl_lite.algorithms._common.hyper import (INF, HyperView, check_hyper, clipped_adam,
                                                   initial_values, set_hyperparams)
from jaxmarl_lite.algorithms._common.networks import (Communication, ConvTorso, ScannedGRU,
                                                      activation, apply_agents, communicate,
                                                      dense, on_rows)
from jaxmarl_lite.algorithms._common.normalization import RunningMeanStd
from jaxmarl_lite.algorithms._common.training import (EpisodeMetrics, TrainStages, count_updates,
                                                      episode_metrics, initial_episode_metrics,
                                                      loop_metrics, train_from_stages)
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.wrappers import EpisodeStats, VecEnv


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    TUNABLE: ClassVar[Dict[str, Tuple[float, float]]] = {
        "lr": (0.0, INF), "max_grad_norm": (0.0, INF), "gamma": (0.0, 1.0),
        "gae_lambda": (0.0, 1.0), "clip_eps": (0.0, INF), "value_clip_eps": (0.0, INF),
        "ent_coef": (0.0, INF), "vf_coef": (0.0, INF)}
    """Fields that can be carried as data (sweeps, PBT; :mod:`..._common.hyper`), with the
    interval their values stay in."""

    critic: Literal["centralised", "agent_specific", "local"] = "agent_specific"
    """Critic input: global state, global state + agent id (MAPPO), or own obs (IPPO)."""
    total_timesteps: int = 1_000_000
    """Env-step budget per seed (``num_envs * num_steps`` per update)."""
    num_envs: int = 16
    """Parallel envs."""
    num_steps: int = 128
    """Rollout length per env per update."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per epoch (of whole env sequences; must divide ``num_envs``)."""
    minibatch_strata: int = 1
    """Stratified minibatches: the envs form this many equal contiguous groups and every
    minibatch takes the same number of envs from each (1: a uniform shuffle of all envs).
    In a run whose envs are split over devices, a multiple of the env shards keeps every
    minibatch on the devices that collected it (no data moves between devices; the run is
    the same on any number of env shards that divides it)."""
    lr: float = 5e-4
    """Adam learning rate."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    gamma: float = 0.99
    """Discount."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    clip_eps: float = 0.2
    """PPO ratio clip."""
    value_clip_eps: float = 0.2
    """Value-loss clip around the old value (normalised units); 0 disables it."""
    ent_coef: float = 0.01
    """Entropy bonus weight."""
    ent_coef_final: float | None = None
    """When set, the entropy weight anneals linearly from ``ent_coef`` (first update) to this
    (last update); ``None`` keeps ``ent_coef`` throughout."""
    vf_coef: float = 0.5
    """Value-loss weight."""
    value_norm: bool = True
    """Learn normalised values (running mean/std of the targets)."""
    normalize_advantages: bool = True
    """Standardise the advantages within each minibatch (zero mean, unit std) in the loss."""
    hidden_size: int = 64
    """Width of actor and critic layers."""
    recurrent: bool = False
    """GRU actor and critic (``False``: two-layer MLPs)."""
    activation: str = "tanh"
    """Hidden activation (relu, tanh, elu, gelu, silu)."""
    obs_image_shape: Optional[Tuple[int, int, int]] = None
    """``(height, width, channels)``: each observation starts with an image of this shape,
    flattened row-major (as ``np.ravel`` of an ``[H, W, C]`` array); the actor (and a
    ``local`` critic, whose input is the observation) runs it through a small CNN torso
    (:class:`~jaxmarl_lite.algorithms._common.networks.ConvTorso`, ``cnn_channels``) and
    joins the features after the image (agent id, padding) to its output. ``None``: MLP."""
    cnn_channels: Tuple[int, ...] = (16, 32)
    """Channels of the CNN torso's 3x3 stride-2 convolutions (with ``obs_image_shape``)."""
    comm: Literal["none", "mean", "attention"] = "none"
    """Learned communication between the actors (:class:`~jaxmarl_lite.algorithms._common.
    networks.Communication`): each agent sends a message computed from its own features (after
    the GRU when recurrent) and receives the mean of the others' (CommNet) or an
    attention-weighted sum (TarMAC), trained end to end through the policy loss. Needs
    ``parameter_sharing``. The critic does not communicate."""
    comm_dim: int = 16
    """Message width."""
    comm_rounds: int = 1
    """Rounds of message passing per step."""
    parameter_sharing: bool = True
    """One actor/critic for all agents with agent ids; ``False``: per-agent parameters."""
    init_log_std: float = -0.5
    """Initial log standard deviation of Gaussian policies (learned, state-independent)."""
    eval_every: int = 10
    """Updates between deterministic evaluations."""
    eval_episodes: int = 64
    """Episodes per evaluation."""

    def validate(self) -> None:
        self._require_positive("total_timesteps", "num_envs", "num_steps", "update_epochs",
                               "num_minibatches", "lr", "max_grad_norm", "hidden_size",
                               "eval_every", "eval_episodes")
        self._require_unit("gamma", "gae_lambda")
        self._require_nonnegative("clip_eps", "value_clip_eps", "ent_coef", "vf_coef")
        self._require(self.ent_coef_final is None or self.ent_coef_final >= 0,
                      "ent_coef_final", "None or >= 0")
        self._require(self.num_envs % self.num_minibatches == 0, "num_minibatches",
                      f"a divisor of num_envs={self.num_envs}")
        self._require_positive("minibatch_strata")
        self._require(self.num_envs % (self.num_minibatches * self.minibatch_strata) == 0,
                      "minibatch_strata", f"such that num_minibatches * minibatch_strata "
                      f"divides num_envs={self.num_envs}")
        activation(self.activation)
        self._require(self.obs_image_shape is None or (
            len(self.obs_image_shape) == 3 and all(d > 0 for d in self.obs_image_shape)),
            "obs_image_shape", "None or (height, width, channels) of positive ints")
        self._require(len(self.cnn_channels) > 0 and all(c > 0 for c in self.cnn_channels),
                      "cnn_channels", "a non-empty tuple of positive ints")
        self._require_positive("comm_dim", "comm_rounds")
        self._require(self.comm == "none" or self.parameter_sharing, "comm",
                      "'none' without parameter_sharing (messages pass between the agents of "
                      "one shared network)")


class Trunk(nn.Module):
    """``(hidden [B, H], x [T, B, D], resets [T, B]) -> (hidden, y [T, B, out_dim])``;
    with ``image_shape`` the first ``H * W * C`` inputs pass a CNN torso first."""

    out_dim: int
    hidden_size: int
    recurrent: bool
    act: str
    out_scale: float
    image_shape: Optional[Tuple[int, int, int]] = None
    channels: Tuple[int, ...] = (16, 32)
    comm: Optional[Communication] = None
    """Message passing over the agents (``x``'s batch axis holds ``num_agents`` innermost)."""
    num_agents: int = 1

    @nn.compact
    def __call__(self, hidden, x, resets):
        f = activation(self.act)
        if self.image_shape is not None:
            x = ConvTorso(self.image_shape, self.channels, self.act)(x)
        first = dense(self.hidden_size)
        if self.recurrent:
            x = on_rows(lambda x: f(first(x)), x)
            hidden, x = ScannedGRU(self.hidden_size)(hidden, (x, resets))
        else:
            second = dense(self.hidden_size)
            x = on_rows(lambda x: f(second(f(first(x)))), x)
        x = communicate(self.comm, x, self.num_agents)
        return hidden, on_rows(dense(self.out_dim, self.out_scale), x)


class Params(NamedTuple):
    actor: Any
    critic: Any
    log_std: jax.Array  # [act_dim] (unused for discrete actions)


class Hidden(NamedTuple):
    actor: jax.Array  # [E, N, H]
    critic: jax.Array  # [E, N, H]


class Nets(NamedTuple):
    actor: Trunk
    critic: Trunk
    config: Config
    discrete: bool

    def dist(self, params: Params, hidden, obs, mask, resets):
        h, out = apply_agents(self.actor, self.config.parameter_sharing, params.actor, hidden,
                              obs, resets)
        if self.discrete:
            return h, masked_categorical(out, mask)
        return h, diagonal_gaussian(out, params.log_std)

    def value(self, params: Params, hidden, critic_in, resets):
        sharing = self.config.parameter_sharing and self.config.critic != "centralised"
        if self.config.critic == "centralised":  # one state-value network, no agent id
            t, b, n, _ = critic_in.shape
            h, v = self.critic.apply(params.critic, hidden[:, 0], critic_in[:, :, 0], resets)
            return jnp.repeat(h[:, None], n, 1), jnp.repeat(v, n, axis=-1)
        h, v = apply_agents(self.critic, sharing, params.critic, hidden, critic_in, resets)
        return h, v[..., 0]


def critic_inputs(config: Config, obs, state):
    """``obs [..., N, D]``, ``state [..., S]`` -> ``[..., N, F]`` (ids appended by sharing)."""
    if config.critic == "local":
        return obs
    return jnp.broadcast_to(state[..., None, :], (*obs.shape[:-1], state.shape[-1]))


class Batch(NamedTuple):
    """A rollout, time-major: ``obs [T, E, N, D]``, ``critic_in [T, E, N, F]``, ``mask
    [T, E, N, A]``, ``actions [T, E, N]`` (``[T, E, N, act_dim]`` continuous), ``log_prob``,
    ``value``, ``advantages``, ``targets`` ``[T, E, N]``, ``resets [T, E]``, ``h0``
    (:class:`Hidden`, ``[E, N, H]`` each)."""

    obs: jax.Array
    critic_in: jax.Array
    mask: jax.Array
    actions: jax.Array
    log_prob: jax.Array
    value: jax.Array  # normalised-space value predictions at collection
    advantages: jax.Array
    targets: jax.Array  # normalised value targets
    resets: jax.Array
    h0: Hidden  # [E, N, H] hidden at the rollout's start


def loss(params: Params, batch: Batch, *, nets: Nets, ent_coef=None, hyper=None):
    """PPO loss of one minibatch -> ``(total, (value_loss, actor_loss, entropy))``.

    Steps, each switchable in the config: advantages standardised within the minibatch
    (``normalize_advantages``); clipped surrogate (``clip_eps``); squared value error in
    normalised units (``value_norm``: the batch's targets are already normalised), the
    larger of the unclipped and the clipped-around-the-old-value error when
    ``value_clip_eps > 0``; ``total = actor + vf_coef * 0.5 * value - ent_coef * entropy``.
    ``ent_coef`` (a scalar, e.g. :func:`entropy_weight`) overrides ``config.ent_coef``;
    ``hyper`` (``{field: array}``) overrides tunable config fields."""
    cfg = HyperView(nets.config, hyper or {})
    ent_coef = cfg.ent_coef if ent_coef is None else ent_coef
    chex.assert_equal_shape([batch.log_prob, batch.advantages, batch.targets])
    _, dist = nets.dist(params, batch.h0.actor, batch.obs, batch.mask, batch.resets)
    _, value = nets.value(params, batch.h0.critic, batch.critic_in, batch.resets)
    log_prob = dist.log_prob(batch.actions)
    ratio = jnp.exp(log_prob - batch.log_prob)
    adv = batch.advantages
    if cfg.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    actor_loss = -jnp.minimum(ratio * adv,
                              jnp.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps) * adv).mean()
    v_loss = (value - batch.targets) ** 2
    if cfg.carried("value_clip_eps") or cfg.value_clip_eps > 0:
        clipped = batch.value + jnp.clip(value - batch.value, -cfg.value_clip_eps, cfg.value_clip_eps)
        clipped_loss = jnp.maximum(v_loss, (clipped - batch.targets) ** 2)
        # a carried clip of 0 means no clip, as a static one does
        v_loss = (jnp.where(cfg.value_clip_eps > 0, clipped_loss, v_loss)
                  if cfg.carried("value_clip_eps") else clipped_loss)
    value_loss = 0.5 * v_loss.mean()
    entropy = dist.entropy().mean()
    total = actor_loss + cfg.vf_coef * value_loss - ent_coef * entropy
    return total, (value_loss, actor_loss, entropy)


def entropy_weight(config: Config, update: jax.Array, num_updates: int):
    """The entropy weight of the 0-based ``update`` out of ``num_updates``: ``None`` (use
    ``config.ent_coef``) unless ``config.ent_coef_final`` is set, else linear between the two."""
    if config.ent_coef_final is None:
        return None
    frac = update.astype(jnp.float32) / max(num_updates - 1, 1)
    return config.ent_coef + frac * (config.ent_coef_final - config.ent_coef)


def minibatch_envs(key, num_envs: int, num_minibatches: int, strata: int = 1) -> jax.Array:
    """``[num_minibatches, num_envs / num_minibatches]`` env indices of one epoch: a uniform
    shuffle of all envs (``strata == 1``), or, stratified, ``per / num_minibatches`` envs
    of each of ``strata`` contiguous groups of ``per = num_envs / strata`` envs per
    minibatch (group by group)."""
    if strata == 1:
        return jax.random.permutation(key, num_envs).reshape(num_minibatches, -1)
    per = num_envs // strata
    perms = jax.vmap(lambda k: jax.random.permutation(k, per))(jax.random.split(key, strata))
    perms = perms + per * jnp.arange(strata)[:, None]  # [G, per] global indices
    return perms.reshape(strata, num_minibatches, -1).swapaxes(0, 1).reshape(num_minibatches, -1)


def learn(params: Params, opt_state, batch: Batch, key, *, nets: Nets, optimizer,
          ent_coef=None, hyper=None):
    """``update_epochs`` epochs of ``num_minibatches`` Adam steps on :func:`loss` over
    minibatches of whole env sequences (axis 1 of the time-major ``batch``) ->
    ``(params, opt_state, aux [epochs, minibatches, 3])`` (value, actor loss, entropy).
    ``hyper``: carried tunable values (the optimiser's are set into its state first)."""
    cfg = nets.config
    hp = HyperView(cfg, hyper or {})
    if hyper:  # a tunable optimiser (make_optimizer(..., tunable=True)) takes the carried values
        opt_state = set_hyperparams(opt_state, learning_rate=hp.lr, max_norm=hp.max_grad_norm)
    num_envs = batch.obs.shape[1]
    strata = cfg.minibatch_strata
    per = num_envs // strata

    def gather(x, idx, axis):
        """``x`` at the envs ``idx`` of the env ``axis``; stratified: a batched gather per
        group (each group stays on its devices)."""
        if strata == 1:
            return x[:, idx] if axis == 1 else x[idx]
        local = idx.reshape(strata, -1) - per * jnp.arange(strata)[:, None]
        grouped = data_parallel(x.reshape(x.shape[:axis] + (strata, per) + x.shape[axis + 1:]),
                                axis)
        picked = jax.vmap(lambda g, i: jnp.take(g, i, axis=axis), in_axes=(axis, 0),
                          out_axes=axis)(grouped, local)
        return picked.reshape(x.shape[:axis] + (-1,) + x.shape[axis + 1:])

    def epoch(state, key):
        def minibatch(state, idx):
            params, opt_state = state
            mb = Batch(*[data_parallel(gather(x, idx, 1), 1) for x in batch[:-1]],
                       data_parallel(Hidden(*[gather(h, idx, 0) for h in batch.h0]), 0))
            (_, aux), grads = jax.value_and_grad(loss, has_aux=True)(
                params, mb, nets=nets, ent_coef=ent_coef, hyper=hyper)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), jnp.stack(aux)

        return jax.lax.scan(minibatch, state, minibatch_envs(key, num_envs, cfg.num_minibatches,
                                                             strata))

    (params, opt_state), aux = jax.lax.scan(
        epoch, (params, opt_state), jax.random.split(key, cfg.update_epochs))
    return params, opt_state, aux


class Carry(NamedTuple):
    params: Params
    opt_state: Any
    value_stats: RunningMeanStd
    env_state: Any
    obs: jax.Array  # [E, N, D]
    first: jax.Array  # [E] episode starts at the next step
    hidden: Hidden
    key: jax.Array
    update_count: jax.Array
    env_steps: jax.Array
    episodes: EpisodeMetrics
    eval_return: jax.Array
    hyper: Dict[str, jax.Array]  # carried tunable values ({} for a plain config)


def make_nets(config: Config, env) -> Nets:
    image = config.obs_image_shape
    if image is not None and int(np.prod(image)) > env.obs_dim:
        raise ValueError(f"obs_image_shape={image} needs {int(np.prod(image))} observation "
                         f"features, but {type(env).__name__} observations have {env.obs_dim}")
    trunk = functools.partial(Trunk, hidden_size=config.hidden_size, recurrent=config.recurrent,
                              act=config.activation, channels=config.cnn_channels)
    comm = None if config.comm == "none" else Communication(
        config.comm, config.comm_dim, config.comm_rounds, config.activation)
    return Nets(trunk(env.num_actions, out_scale=0.01, image_shape=image, comm=comm,
                      num_agents=env.num_agents),
                trunk(1, out_scale=1.0, image_shape=image if config.critic == "local" else None),
                config, env.is_discrete)


def init_params(config: Config, env, key) -> Params:
    """Fresh actor and critic parameters (and the Gaussian log-std) of ``config`` for
    ``env``. Without parameter sharing the actor (and a non-centralised critic) carries a
    leading ``[N]`` axis."""
    return _init_params(config, env, make_nets(config, env), *jax.random.split(key))


def _init_params(config: Config, env, nets: Nets, actor_key, critic_key) -> Params:
    n, sharing = env.num_agents, config.parameter_sharing
    ids = n if sharing else 0
    critic_dim = env.obs_dim if config.critic == "local" else env.state_dim
    # one step of one env's n agents (communication reshapes by the agent count)
    dummy = lambda d: (jnp.zeros((n, config.hidden_size)), jnp.zeros((1, n, d)),  # noqa: E731
                       jnp.zeros((1, n), bool))
    init_one = lambda net, k, d: net.init(k, *dummy(d))  # noqa: E731
    per_agent = lambda net, k, d: jax.vmap(lambda kk: init_one(net, kk, d))(  # noqa: E731
        jax.random.split(k, n))
    actor = (init_one if sharing else per_agent)(nets.actor, actor_key, env.obs_dim + ids)
    if config.critic == "centralised":
        critic = init_one(nets.critic, critic_key, critic_dim)
    else:
        critic = (init_one if sharing else per_agent)(nets.critic, critic_key, critic_dim + ids)
    return Params(actor, critic, jnp.full((env.num_actions,), config.init_log_std))


def make_policy(config: Config, env, sample: bool = False) -> Policy:
    """Deterministic policy: the most likely legal action, or the Gaussian mean; with
    ``sample=True`` the trained stochastic policy (an action drawn from the masked
    distribution with the step's key), as during training: where greedy play stalls (e.g.
    an agent waiting forever in Overcooked) the sampled policy shows what was learned."""
    if not isinstance(sample, bool):
        raise TypeError(f"make_policy: sample must be a bool, got {type(sample).__name__}")
    nets = make_nets(config, env)

    def act(params: Params, hidden, obs, mask, first, key):
        h, dist = nets.dist(params, hidden, obs[None], mask[None], first[None])
        action = (dist.sample(seed=key) if sample else dist.mode())[0]
        return (action.astype(jnp.int32) if nets.discrete else action), h

    return Policy(lambda e: jnp.zeros((e, env.num_agents, config.hidden_size)), act)


def make_optimizer(config: Config, num_updates: int, tunable: bool = False):
    """Adam (eps 1e-5) after global-norm clipping; the LR anneals linearly to 0 over all
    ``num_updates * update_epochs * num_minibatches`` steps when ``anneal_lr``. ``tunable``:
    the LR and the clip are ``inject_hyperparams`` values set from the carry by
    :func:`learn` (:func:`~jaxmarl_lite.algorithms._common.hyper.clipped_adam`)."""
    grad_steps = num_updates * config.update_epochs * config.num_minibatches
    return clipped_adam(config.lr, config.max_grad_norm, eps=1e-5, tunable=tunable,
                        anneal_steps=grad_steps if config.anneal_lr else 0)


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names tunable fields carried as data
    (``carry.hyper``, see :mod:`jaxmarl_lite.algorithms._common.hyper`)."""
    hyper = check_hyper(config, hyper)
    steps_per_update = config.num_envs * config.num_steps
    num_updates = count_updates(config.total_timesteps, steps_per_update, "num_envs * num_steps")
    n, e = env.num_agents, config.num_envs
    venv = VecEnv(EpisodeStats(env), e)
    nets = make_nets(config, env)
    policy = make_policy(config, env)
    optimizer = make_optimizer(config, num_updates, tunable=bool(hyper))
    masks = jax.vmap(env.action_mask)
    states = jax.vmap(env.global_state)
    zeros_h = lambda: jnp.zeros((e, n, config.hidden_size))  # noqa: E731

    def init(key) -> Carry:
        key, ka, kc, kr = jax.random.split(key, 4)
        obs, env_state = venv.reset(kr)
        params = _init_params(config, env, nets, ka, kc)
        return Carry(params, optimizer.init(params), RunningMeanStd.create(), env_state, obs,
                     jnp.ones((e,), bool), Hidden(zeros_h(), zeros_h()), key,
                     jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     initial_episode_metrics(), jnp.asarray(jnp.nan, jnp.float32),
                     initial_values(config, hyper))

    def rollout_step(c, key):
        params, stats, env_state, obs, first, hidden = c
        act_key, step_key = jax.random.split(key)
        mask = masks(env_state.env_state)
        cin = critic_inputs(config, obs, states(env_state.env_state))
        ha, dist = nets.dist(params, hidden.actor, obs[None], mask[None], first[None])
        action = dist.sample(seed=act_key)
        log_prob = dist.log_prob(action)
        action = action[0].astype(jnp.int32) if nets.discrete else action[0]
        obs2, env_state2, reward, term, trunc, info = venv.step(step_key, env_state, action)
        done = jnp.all(term | trunc, axis=-1)
        # the value of the transition's own next state (pre-reset at an episode's end)
        final_cin = critic_inputs(config, info["final_obs"], info["final_global_state"])
        out = dict(obs=obs, critic_in=cin, mask=mask, actions=action, log_prob=log_prob[0],
                   reward=reward, term=term, done=jnp.broadcast_to(done[:, None], term.shape),
                   resets=first, info=info)
        hc = hidden.critic
        if config.recurrent:  # the critic's state follows the steps
            hc, value = nets.value(params, hc, cin[None], first[None])
            _, next_value = nets.value(params, hc, final_cin[None], jnp.zeros((1, e), bool))
            out.update(value=value[0], next_value=next_value[0])
        else:  # a feed-forward critic runs after the rollout, on all steps at once
            out.update(final_critic_in=final_cin)
        return (params, stats, env_state2, obs2, done, Hidden(ha, hc)), out

    def update(c: Carry):
        key, roll_key, perm_key, eval_key = jax.random.split(c.key, 4)
        start = (c.params, c.value_stats, c.env_state, c.obs, c.first, c.hidden)
        (_, _, env_state, obs, first, hidden), tr = jax.lax.scan(
            rollout_step, start, jax.random.split(roll_key, config.num_steps))
        if not config.recurrent:  # one batched pass: [T, E, N, F] -> [T, E, N]
            no_reset = jnp.zeros(tr["resets"].shape, bool)
            tr["value"] = nets.value(c.params, c.hidden.critic, tr["critic_in"], no_reset)[1]
            tr["next_value"] = nets.value(c.params, c.hidden.critic, tr.pop("final_critic_in"),
                                          no_reset)[1]
        stats, hp = c.value_stats, HyperView(config, c.hyper)
        denorm = stats.denormalize if config.value_norm else (lambda x: x)
        adv, targets = gae(tr["reward"], denorm(tr["value"]), denorm(tr["next_value"]),
                           tr["term"], tr["done"], hp.gamma, hp.gae_lambda)
        if config.value_norm:
            stats = stats.update(targets.reshape(-1))
            targets = stats.normalize(targets)
        batch = Batch(tr["obs"], tr["critic_in"], tr["mask"], tr["actions"], tr["log_prob"],
                      tr["value"], adv, targets, tr["resets"], c.hidden)

        params, opt_state, aux = learn(
            c.params, c.opt_state, batch, perm_key, nets=nets, optimizer=optimizer,
            ent_coef=entropy_weight(hp, c.update_count, num_updates), hyper=c.hyper)
        count = c.update_count + 1
        eval_return = periodic_eval(env, policy, params, eval_key, count, num_updates, config,
                                    c.eval_return)
        episodes = episode_metrics(tr["info"], c.episodes)
        env_steps = c.env_steps + steps_per_update
        aux = aux.reshape(-1, 3).mean(0)
        metrics = loop_metrics(
            env_steps, episodes.episode_return, episodes.episode_length, eval_return,
            value_loss=aux[0], actor_loss=aux[1], entropy=aux[2])
        return Carry(params, opt_state, stats, env_state, obs, first, hidden, key, count,
                     env_steps, episodes, eval_return, c.hyper), metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; vmap it over keys to train many seeds at once."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # JaxMARL baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml: 16 envs x 128 steps,
    # GRU 128, tanh, lr 2e-3 annealed, 4 epochs, 4 minibatches, clip 0.2, ent 0.01.
    "jaxmarl_mappo_rnn_mpe": Config(critic="agent_specific", num_envs=16, num_steps=128,
                                    hidden_size=128, recurrent=True, lr=2e-3, update_epochs=4,
                                    num_minibatches=4, gamma=0.99, gae_lambda=0.95,
                                    clip_eps=0.2, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5,
                                    activation="tanh", total_timesteps=2_000_000),
    # JaxMARL baselines/IPPO/config/ippo_ff_mpe.yaml: 16 envs x 128 steps, feed-forward 64,
    # tanh, lr 2.5e-4 annealed, 4 epochs, 4 minibatches.
    "jaxmarl_ippo_ff_mpe": Config(critic="local", num_envs=16, num_steps=128, hidden_size=64,
                                  lr=2.5e-4, update_epochs=4, num_minibatches=4, activation="tanh",
                                  total_timesteps=2_000_000),
    # Yu et al. 2022 (MAPPO), MPE: 128 envs x 25 steps, lr 7e-4, 10 epochs, 1 minibatch,
    # GRU 64, value normalisation, clip 0.2, entropy 0.01.
    "mappo_paper_mpe": Config(critic="agent_specific", num_envs=128, num_steps=25,
                              hidden_size=64, recurrent=True, lr=7e-4, anneal_lr=False,
                              update_epochs=10, num_minibatches=1, activation="relu",
                              total_timesteps=10_000_000),
    # Small feed-forward settings for the grid worlds and quick tests.
    "grid_quick": Config(num_envs=16, num_steps=32, update_epochs=4, num_minibatches=2,
                         lr=3e-3, ent_coef=0.01, total_timesteps=100_000, eval_every=20),
}
