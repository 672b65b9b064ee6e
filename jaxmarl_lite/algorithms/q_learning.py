"""Recurrent multi-agent Q-learning: the shared core of IQL, VDN and QMIX.

One update (:func:`update`) = reset ``num_envs`` envs, roll out one whole episode each
(``env.max_episode_steps`` steps, epsilon-greedy, steps after an episode's end masked out),
add the episodes to a flashbax episode buffer, take ``num_sgd_steps`` gradient steps on
sampled episode batches, update the target network and, every ``eval_every`` updates,
evaluate the greedy policy. ``make_train(config, env)`` runs all updates in one ``lax.scan``.

Learning details (pymarl2 / EPyMARL): GRU agents whose hidden state starts at zero at every
episode start (episodes are stored whole), double Q-learning, masked max/argmax over legal
actions, targets bootstrapped through truncation (from the pre-reset ``final_obs``) and
never through termination, TD(lambda) targets (``td_lambda=0`` is one-step Q-learning),
optional reward standardisation, Adam with gradient-norm clipping, hard or polyak target
updates, linear epsilon anneal. ``mixer`` picks IQL (``"none"``: per-agent rewards and
per-agent losses), VDN (``"vdn"``) or QMIX (``"qmix"``), both trained on the team reward (the
mean of the agents' rewards).

Budget: ``num_updates = total_timesteps // (num_envs * max_episode_steps)``; the
``env_steps`` metric counts the episode steps actually taken (steps after an episode ended
early are not counted).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, Dict, Literal, NamedTuple, Optional, Sequence, Tuple

import chex
import flashbax as fbx
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxmarl_lite.algorithms._common.config import ConfigBase
from jaxmarl_lite.algorithms._common.evaluation import Policy, periodic_eval
from jaxmarl_lite.algorithms._common.gae import lambda_returns
from jaxmarl_lite.algorithms._common.hyper import (INF, HyperView, carried_schedule,
                                                   check_hyper, clipped_adam, initial_values,
                                                   set_hyperparams)
from jaxmarl_lite.algorithms._common.mixers import QMixer, vdn
from jaxmarl_lite.algorithms._common.networks import (Communication, ScannedGRU, apply_agents,
                                                      communicate, dense, on_rows)
from jaxmarl_lite.algorithms._common.normalization import RunningMeanStd
from jaxmarl_lite.algorithms._common.training import (TrainStages, count_updates, loop_metrics,
                                                      train_from_stages)
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.spaces import random_legal
from jaxmarl_lite.wrappers import VecEnv


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    TUNABLE: ClassVar[Dict[str, Tuple[float, float]]] = {
        "lr": (0.0, INF), "max_grad_norm": (0.0, INF), "gamma": (0.0, 1.0),
        "td_lambda": (0.0, 1.0), "tau": (0.0, 1.0), "eps_start": (0.0, 1.0),
        "eps_finish": (0.0, 1.0), "eps_decay_fraction": (0.0, 1.0)}
    """Fields that can be carried as data (sweeps, PBT; :mod:`..._common.hyper`), with the
    interval their values stay in."""

    mixer: Literal["none", "vdn", "qmix"] = "qmix"
    """Value decomposition: ``none`` (IQL), ``vdn`` (sum) or ``qmix`` (hypernetwork)."""
    total_timesteps: int = 1_000_000
    """Env-step budget per seed (``num_envs * max_episode_steps`` per update)."""
    num_envs: int = 8
    """Episodes collected per update (parallel envs)."""
    buffer_size: int = 5000
    """Replay capacity in episodes."""
    batch_size: int = 32
    """Episodes per gradient step."""
    num_sgd_steps: int = 1
    """Gradient steps per update."""
    learning_starts: int = 10_000
    """Env steps collected before the first gradient step."""
    lr: float = 5e-3
    """Adam learning rate."""
    lr_linear_decay: bool = False
    """Anneal the learning rate linearly to 0 over training."""
    max_grad_norm: float = 25.0
    """Global gradient-norm clip."""
    gamma: float = 0.99
    """Discount."""
    td_lambda: float = 0.0
    """TD(lambda) of the targets; 0 = one-step Q-learning targets."""
    double_q: bool = True
    """Select next actions with the online net, evaluate them with the target net."""
    target_update_interval: int = 200
    """Updates between target-network updates."""
    tau: float = 1.0
    """Target update ``target <- tau * online + (1 - tau) * target`` (1 = hard copy)."""
    eps_start: float = 1.0
    """Initial exploration epsilon."""
    eps_finish: float = 0.05
    """Final exploration epsilon."""
    eps_decay_fraction: float = 0.1
    """Fraction of the budget over which epsilon anneals linearly."""
    hidden_size: int = 64
    """Width of the agent network (dense + GRU)."""
    recurrent: bool = True
    """GRU agents (``False``: a 2-layer MLP)."""
    layer_norm: bool = False
    """LayerNorm after each hidden dense layer, before its ReLU (PQN's Q-network)."""
    parameter_sharing: bool = True
    """One network for all agents with an agent-id one-hot appended to the observation;
    ``False`` gives every agent its own parameters (vmapped over the agent axis)."""
    shared_experience: bool = False
    """Every agent's network learns from all agents' transitions (homogeneous agents, the
    seeds' shared replay buffer; needs ``parameter_sharing=False``: a shared network already
    learns from every agent's transitions). Each sampled episode assigns the networks to the
    agent slots by a fresh random permutation (the data, its rewards and the mixer's slot
    order stay as collected; off-policy Q-learning may learn from another agent's actions)."""
    comm: Literal["none", "mean", "attention"] = "none"
    """Learned communication between the agents' Q-networks (as PPO's ``comm``: CommNet
    mean or TarMAC attention over messages computed after the GRU), trained end to end
    through the TD loss; at execution agents exchange only these messages. Needs
    ``parameter_sharing``."""
    comm_dim: int = 16
    """Message width."""
    comm_rounds: int = 1
    """Rounds of message passing per step."""
    standardise_rewards: bool = False
    """Divide rewards by a running standard deviation and subtract its mean."""
    mixer_embed_dim: int = 32
    """QMIX mixing-network width."""
    hypernet_hidden: int = 64
    """QMIX hypernetwork hidden width."""
    hypernet_layers: int = 2
    """QMIX hypernetwork depth (1 or 2)."""
    mixer_init_scale: float | None = None
    """Orthogonal gain of every QMIX mixer kernel (JaxMARL: 0.001); ``None``: the usual gains
    (sqrt(2) before a ReLU, 1 on outputs)."""
    eval_every: int = 50
    """Updates between greedy evaluations (``eval_return`` is carried in between)."""
    eval_episodes: int = 64
    """Greedy episodes per evaluation."""

    def validate(self) -> None:
        self._require_positive("total_timesteps", "num_envs", "buffer_size", "batch_size",
                               "num_sgd_steps", "lr", "max_grad_norm", "target_update_interval",
                               "hidden_size", "mixer_embed_dim", "hypernet_hidden",
                               "eval_every", "eval_episodes")
        self._require_nonnegative("learning_starts")
        self._require_unit("gamma", "td_lambda", "eps_start", "eps_finish", "eps_decay_fraction")
        self._require(0.0 < self.tau <= 1.0, "tau", "in (0, 1]")
        self._require(self.hypernet_layers in (1, 2), "hypernet_layers", "1 or 2")
        self._require(self.mixer_init_scale is None or self.mixer_init_scale > 0,
                      "mixer_init_scale", "None or > 0")
        self._require_positive("comm_dim", "comm_rounds")
        self._require(self.comm == "none" or self.parameter_sharing, "comm",
                      "'none' without parameter_sharing (messages pass between the agents of "
                      "one shared network)")
        self._require(not (self.shared_experience and self.parameter_sharing), "shared_experience",
                      "False with parameter_sharing=True (one shared network already learns "
                      "from every agent's transitions); set parameter_sharing=False")
        self._require(self.batch_size <= self.buffer_size, "batch_size", "<= buffer_size")
        self._require(self.num_envs <= self.buffer_size, "buffer_size",
                      f">= num_envs={self.num_envs} (the episodes one update adds)")
        self._require(self.learning_starts < self.total_timesteps, "learning_starts",
                      f"< total_timesteps={self.total_timesteps} (else nothing is learned)")


# ----------------------------------------------------------------------------- networks
class QNetwork(nn.Module):
    """Agent Q-network. ``__call__(hidden [B, H], obs [T, B, D], resets [T, B])
    -> (hidden [B, H], q [T, B, num_actions])``; ``resets`` zeroes the GRU state before a
    step (episode starts). With ``recurrent=False`` the hidden state passes through."""

    num_actions: int
    hidden_size: int = 64
    recurrent: bool = True
    unroll: int = 1
    comm: Optional[Communication] = None
    """Message passing over the agents (``obs``'s batch axis holds ``num_agents`` innermost)."""
    num_agents: int = 1
    layer_norm: bool = False
    """LayerNorm between each hidden dense layer and its ReLU."""

    @nn.compact
    def __call__(self, hidden, obs, resets):
        def layer(x):
            x = dense(self.hidden_size)(x)
            return nn.relu(nn.LayerNorm()(x) if self.layer_norm else x)

        if self.recurrent:
            x = on_rows(layer, obs)
            hidden, x = ScannedGRU(self.hidden_size, min(self.unroll, obs.shape[0]))(
                hidden, (x, resets))
        else:
            x = on_rows(lambda x: layer(layer(x)), obs)
        x = communicate(self.comm, x, self.num_agents)
        return hidden, on_rows(dense(self.num_actions, 1.0), x)


class QParams(NamedTuple):
    agent: Any  # agent network (leading [num_agents] axis without parameter sharing)
    mixer: Any  # QMIX mixer parameters; None for IQL/VDN


def masked_argmax(q: jax.Array, mask: jax.Array) -> jax.Array:
    """Greedy legal action. ``q``, ``mask`` ``[..., A]`` -> ``[...]`` int32."""
    return jnp.argmax(jnp.where(mask > 0, q, -jnp.inf), axis=-1).astype(jnp.int32)


def epsilon_greedy(key, q, mask, epsilon):
    """Random legal action with probability ``epsilon``, else the greedy legal one.
    ``q``, ``mask`` ``[..., A]`` -> ``[...]`` int32."""
    explore_key, pick_key = jax.random.split(key)
    random_actions = random_legal(pick_key, mask)
    explore = jax.random.uniform(explore_key, q.shape[:-1]) < epsilon
    return jnp.where(explore, random_actions, masked_argmax(q, mask))


# ---------------------------------------------------------------------------- episodes
class Episode(NamedTuple):
    """One stored episode (flashbax item); ``T = max_episode_steps``. Index ``t + 1`` of the
    ``[T + 1]`` fields is the observation after step ``t`` (pre-reset at the episode's end);
    masks there are all ones where the episode ended (no legal-action info past the end).

    Fields of one episode: ``obs [T+1, N, D]``, ``state [T+1, S]``, ``mask [T+1, N, A]``,
    ``actions [T, N]`` int32, ``rewards [T, N]``, ``terminated [T, N]`` bool, ``valid [T]``
    bool. The buffer stores and samples them batch-major (``[B, T+1, ...]``: an episode is
    one item); :func:`loss` takes a batch time-major, ``[T+1, B, ...]`` / ``[T, B, ...]``,
    the layout of every loss in the package (:func:`time_major` converts a sample)."""

    obs: jax.Array  # [T + 1, N, D]
    state: jax.Array  # [T + 1, S] global state
    mask: jax.Array  # [T + 1, N, A]
    actions: jax.Array  # [T, N] int32
    rewards: jax.Array  # [T, N]
    terminated: jax.Array  # [T, N] bool
    valid: jax.Array  # [T] bool: the step belongs to the episode


def time_major(batch: Episode) -> Episode:
    """A batch sampled from the buffer (``[B, T(+1), ...]``) as the loss takes it,
    ``[T(+1), B, ...]``."""
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), batch)


def td_lambda_targets(rewards, terminated, valid, next_values, gamma: float, td_lambda: float):
    """TD(lambda) targets of stored episodes, time-major ``[T, ...]``; ``valid`` ``[T, ...]``
    (a prefix of the rewards' shape) broadcasts over the trailing axes.

    :func:`~jaxmarl_lite.algorithms._common.gae.lambda_returns` with the return continuing
    from ``t`` to ``t + 1`` while the episode does (``valid[t + 1]``), so a truncated
    episode bootstraps from ``V`` of its final observation.
    ``td_lambda = 0`` gives ``r_t + gamma (1 - term_t) V_{t+1}``."""
    if isinstance(td_lambda, (int, float)) and td_lambda == 0.0:  # static: no pass over time
        return rewards + gamma * (1.0 - terminated.astype(jnp.float32)) * next_values
    cont = jnp.concatenate([valid[1:], jnp.zeros_like(valid[:1])])
    cont = cont.reshape(cont.shape + (1,) * (rewards.ndim - valid.ndim))
    return lambda_returns(rewards, terminated, cont, next_values, gamma, td_lambda)


def slot_permutations(key, batch_size: int, num_agents: int) -> jax.Array:
    """``[B, N]``: episode ``b``'s network ``i`` plays agent slot ``perm[b, i]``."""
    return jax.vmap(lambda k: jax.random.permutation(k, num_agents))(
        jax.random.split(key, batch_size))


def loss(params: QParams, target_params: QParams, batch: Episode,
         reward_stats: RunningMeanStd | None = None, perm=None, *, config: Config,
         network: QNetwork, mixer: nn.Module | None):
    """Masked mean squared TD error of a batch of episodes, time-major (fields ``[T+1, B,
    ...]`` / ``[T, B, ...]``, :class:`Episode`; :func:`time_major` converts a buffer sample).
    Returns ``(loss, q_mean)``. ``reward_stats`` is read only with
    ``config.standardise_rewards``. ``perm [B, N]``
    (:func:`slot_permutations`, per-agent networks): network ``i`` reads the observations
    of slot ``perm[b, i]`` and its Q-values stand for that slot (shared experience)."""
    tp1, b, n, _ = batch.obs.shape
    chex.assert_shape(batch.actions, (tp1 - 1, b, n))
    h0 = jnp.zeros((b, n, config.hidden_size))
    no_reset = jnp.zeros((tp1, b), bool)
    q_fn = functools.partial(apply_agents, network, config.parameter_sharing)
    obs = batch.obs
    if perm is not None:
        chex.assert_shape(perm, (b, n))
        obs = jnp.take_along_axis(obs, perm[None, :, :, None], axis=2)
    _, q = q_fn(params.agent, h0, obs, no_reset)
    _, q_target = q_fn(target_params.agent, h0, obs, no_reset)
    if perm is not None:  # back to slot order: slot perm[b, i]'s values came from network i
        inverse = jnp.argsort(perm, axis=-1)[None, :, :, None]
        q, q_target = (jnp.take_along_axis(x, inverse, axis=2) for x in (q, q_target))
    q_taken = jnp.take_along_axis(q[:-1], batch.actions[..., None], axis=-1)[..., 0]  # [T,B,N]
    next_mask = batch.mask[1:]
    if config.double_q:
        best = masked_argmax(jax.lax.stop_gradient(q[1:]), next_mask)
        v_next = jnp.take_along_axis(q_target[1:], best[..., None], axis=-1)[..., 0]
    else:
        v_next = jnp.max(jnp.where(next_mask > 0, q_target[1:], -jnp.inf), axis=-1)
    rewards = batch.rewards
    if config.standardise_rewards:
        if reward_stats is None:
            raise ValueError("standardise_rewards=True needs reward_stats (a RunningMeanStd "
                             "of the rewards seen so far)")
        rewards = reward_stats.normalize(rewards)
    terminated = batch.terminated
    if mixer is not None:  # VDN / QMIX: one joint value on the team reward
        q_taken = mixer.apply(params.mixer, q_taken, batch.state[:-1])
        v_next = mixer.apply(target_params.mixer, v_next, batch.state[1:])
        rewards, terminated = rewards.mean(-1), terminated.all(-1)
    targets = td_lambda_targets(rewards, terminated, batch.valid, v_next,
                                config.gamma, config.td_lambda)
    weight = batch.valid.reshape(batch.valid.shape + (1,) * (q_taken.ndim - 2)).astype(jnp.float32)
    weight = jnp.broadcast_to(weight, q_taken.shape)
    err = (q_taken - jax.lax.stop_gradient(targets)) * weight
    denom = jnp.maximum(weight.sum(), 1.0)
    return (err**2).sum() / denom, (q_taken * weight).sum() / denom


class _Mixer(NamedTuple):  # a mixer with the signature of QMixer.apply
    fn: Any

    def apply(self, params, qs, state):
        return self.fn(qs, state)


def make_mixer(config: Config):
    if config.mixer == "qmix":
        return QMixer(config.mixer_embed_dim, config.hypernet_hidden, config.hypernet_layers,
                      config.mixer_init_scale)
    return _Mixer(vdn) if config.mixer == "vdn" else None


# ----------------------------------------------------------------------------- training
class Carry(NamedTuple):
    params: QParams
    target_params: QParams
    opt_state: Any
    buffer_state: Any
    reward_stats: RunningMeanStd
    key: jax.Array
    update_count: jax.Array  # [] int32
    env_steps: jax.Array  # [] int32
    eval_return: jax.Array  # [] last greedy evaluation (nan before the first)
    hyper: Dict[str, jax.Array]  # carried tunable values ({} for a plain config)


def make_network(config: Config, env) -> QNetwork:
    """The agent Q-network of ``config`` for ``env`` (with its communication, if any)."""
    comm = None if config.comm == "none" else Communication(
        config.comm, config.comm_dim, config.comm_rounds)
    return QNetwork(env.num_actions, config.hidden_size, config.recurrent, comm=comm,
                    num_agents=env.num_agents, layer_norm=config.layer_norm)


def init_params(config: Config, env, key) -> QParams:
    """Fresh parameters of ``config``'s agent network(s) and mixer for ``env``. Without
    parameter sharing the agent parameters carry a leading ``[N]`` axis; the mixer's are
    ``None`` unless ``mixer="qmix"``."""
    return _init_params(config, env, *jax.random.split(key))


def _init_params(config: Config, env, agent_key, mixer_key) -> QParams:
    n = env.num_agents
    network, mixer = make_network(config, env), make_mixer(config)
    in_dim = env.obs_dim + (n if config.parameter_sharing else 0)
    dummy = (jnp.zeros((n, config.hidden_size)), jnp.zeros((1, n, in_dim)),  # one env
             jnp.zeros((1, n), bool))
    if config.parameter_sharing:
        agent = network.init(agent_key, *dummy)
    else:
        agent = jax.vmap(lambda k: network.init(k, *dummy))(jax.random.split(agent_key, n))
    mixer_params = None
    if config.mixer == "qmix":
        mixer_params = mixer.init(mixer_key, jnp.zeros((1, n)), jnp.zeros((1, env.state_dim)))
    return QParams(agent, mixer_params)


def make_policy(config: Config, env, epsilon: float = 0.0) -> Policy:
    """Greedy policy (``act`` ignores the key): ``params`` are :class:`QParams`. With
    ``epsilon > 0`` each agent takes a random legal action with that probability (drawn
    from the step's key), e.g. the training's final ``eps_finish``: where greedy play
    stalls (two agents blocking each other forever in Overcooked) this shows what the
    epsilon-greedy behaviour policy learned."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) \
            or not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"make_policy: epsilon must be a number in [0, 1], got {epsilon!r}")
    network = make_network(config, env)

    def act(params: QParams, hidden, obs, mask, first, key):
        hidden, q = apply_agents(network, config.parameter_sharing, params.agent, hidden,
                                   obs[None], first[None])
        if epsilon == 0.0:
            return masked_argmax(q[0], mask), hidden
        return epsilon_greedy(key, q[0], mask, epsilon), hidden

    return Policy(lambda num_envs: jnp.zeros((num_envs, env.num_agents, config.hidden_size)), act)


def rollout(env, config: Config, network: QNetwork, params: QParams, key, epsilon):
    """One epsilon-greedy episode in each of ``num_envs`` fresh envs -> :class:`Episode`
    ``[num_envs, ...]``."""
    venv = VecEnv(env, config.num_envs)
    key, reset_key = jax.random.split(key)
    obs, state = venv.reset(reset_key)
    masks = jax.vmap(env.action_mask)
    hidden = jnp.zeros((config.num_envs, env.num_agents, config.hidden_size))
    alive = jnp.ones((config.num_envs,), bool)

    def step(c, key):
        obs, state, hidden, alive = c
        act_key, step_key = jax.random.split(key)
        mask = masks(state)
        hidden, q = apply_agents(network, config.parameter_sharing, params.agent, hidden,
                                   obs[None], jnp.zeros((1, config.num_envs), bool))
        actions = epsilon_greedy(act_key, q[0], mask, epsilon)
        obs2, state2, reward, term, trunc, info = venv.step(step_key, state, actions)
        done = jnp.all(term | trunc, axis=-1)
        next_mask = jnp.where(done[:, None, None], 1.0, masks(state2))
        out = dict(obs=obs, state=jax.vmap(env.global_state)(state), mask=mask, actions=actions,
                   rewards=reward, terminated=term, valid=alive, next_obs=info["final_obs"],
                   next_state=info["final_global_state"], next_mask=next_mask)
        return (obs2, state2, hidden, alive & ~done), out

    keys = jax.random.split(key, env.max_episode_steps)
    _, tr = jax.lax.scan(step, (obs, state, hidden, alive), keys)
    cat = lambda first, rest: jnp.concatenate([first[:1], rest], 0)  # noqa: E731
    episode = Episode(cat(tr["obs"], tr["next_obs"]), cat(tr["state"], tr["next_state"]),
                      cat(tr["mask"], tr["next_mask"]), tr["actions"], tr["rewards"],
                      tr["terminated"], tr["valid"])
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), episode)  # [num_envs, T(+1), ...]


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names tunable fields carried as data
    (``carry.hyper``, see :mod:`jaxmarl_lite.algorithms._common.hyper`)."""
    hyper = check_hyper(config, hyper)
    if not env.is_discrete:
        raise ValueError(f"{type(env).__name__}: Q-learning needs discrete actions "
                         "(e.g. make(..., continuous_actions=False))")
    steps_per_update = config.num_envs * env.max_episode_steps
    num_updates = count_updates(config.total_timesteps, steps_per_update,
                                "num_envs * max_episode_steps")
    n = env.num_agents
    if config.shared_experience and (len(set(env.obs_sizes)) > 1 or len(set(env.action_sizes)) > 1):
        raise ValueError(f"shared_experience needs homogeneous agents; {type(env).__name__}'s "
                         f"observation sizes {env.obs_sizes} / action counts {env.action_sizes} "
                         "differ")
    network = make_network(config, env)
    mixer = make_mixer(config)
    loss_fn = functools.partial(loss, config=config, network=network, mixer=mixer)
    num_grad_steps = num_updates * config.num_sgd_steps
    optimizer = clipped_adam(config.lr, config.max_grad_norm, tunable=bool(hyper),
                             anneal_steps=num_grad_steps if config.lr_linear_decay else 0)
    buffer = fbx.make_item_buffer(config.buffer_size, config.batch_size, config.batch_size,
                                  add_batches=True)
    epsilon_at = optax.linear_schedule(
        config.eps_start, config.eps_finish,
        max(int(config.eps_decay_fraction * config.total_timesteps), 1))
    policy = make_policy(config, env)

    def init(key) -> Carry:
        key, agent_key, mixer_key, ep_key = jax.random.split(key, 4)
        params = _init_params(config, env, agent_key, mixer_key)
        shapes = jax.eval_shape(lambda p, k: rollout(env, config, network, p, k, 1.0),
                                params, ep_key)
        example = jax.tree.map(lambda s: jnp.zeros(s.shape[1:], s.dtype), shapes)
        return Carry(params, params, optimizer.init(params), buffer.init(example),
                     RunningMeanStd.create((n,)), key, jnp.zeros((), jnp.int32),
                     jnp.zeros((), jnp.int32), jnp.asarray(jnp.nan, jnp.float32),
                     initial_values(config, hyper))

    def sgd_step(state, key):
        params, opt_state, buffer_state, target_params, reward_stats, hyper_values = state
        hp = HyperView(config, hyper_values)
        perm = None
        if config.shared_experience:
            key, perm_key = jax.random.split(key)
            perm = slot_permutations(perm_key, config.batch_size, n)
        batch = data_parallel(time_major(buffer.sample(buffer_state, key).experience), 1)
        (value, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, target_params, batch, reward_stats, perm, config=hp)
        if hyper:
            opt_state = set_hyperparams(opt_state, learning_rate=hp.lr, max_norm=hp.max_grad_norm)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return ((params, opt_state, buffer_state, target_params, reward_stats, hyper_values),
                (value, q_mean))

    def update(c: Carry):
        key, roll_key, learn_key, eval_key = jax.random.split(c.key, 4)
        hp = HyperView(config, c.hyper)
        epsilon = carried_schedule(config, c.hyper, "eps_start", "eps_finish",
                                   "eps_decay_fraction", config.total_timesteps,
                                   epsilon_at)(c.env_steps)
        episodes = rollout(env, config, network, c.params, roll_key, epsilon)
        buffer_state = buffer.add(c.buffer_state, episodes)
        valid = episodes.valid.astype(jnp.float32)
        reward_stats = c.reward_stats.update(episodes.rewards, valid)
        env_steps = c.env_steps + valid.sum().astype(jnp.int32)

        def learn(_):
            (params, opt_state, *_), (losses, q_means) = jax.lax.scan(
                sgd_step, (c.params, c.opt_state, buffer_state, c.target_params, reward_stats,
                           c.hyper),
                jax.random.split(learn_key, config.num_sgd_steps))
            return params, opt_state, losses.mean(), q_means.mean()

        def skip(_):
            return c.params, c.opt_state, jnp.zeros(()), jnp.zeros(())

        ready = buffer.can_sample(buffer_state) & (env_steps >= config.learning_starts)
        params, opt_state, loss_value, q_mean = jax.lax.cond(ready, learn, skip, None)
        count = c.update_count + 1
        refresh = (count % config.target_update_interval) == 0
        target_params = jax.tree.map(
            lambda t, p: jnp.where(refresh, optax.incremental_update(p, t, hp.tau), t),
            c.target_params, params)
        eval_return = periodic_eval(env, policy, params, eval_key, count, num_updates, config,
                                    c.eval_return)
        team = episodes.rewards.mean(-1) * valid
        metrics = loop_metrics(
            env_steps, team.sum(-1).mean(), valid.sum(-1).mean(), eval_return,
            loss=loss_value, q_mean=q_mean, epsilon=jnp.asarray(epsilon, jnp.float32))
        carry = Carry(params, target_params, opt_state, buffer_state, reward_stats, key, count,
                      env_steps, eval_return, c.hyper)
        return carry, metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; ``jax.jit(jax.vmap(make_train(cfg, env)))(keys)``
    trains one seed per key."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # Small, fast settings for the grid worlds (the README quick start): reaches the optimum
    # of grid_meet within 50k env steps on most seeds.
    "grid_quick": Config(total_timesteps=50_000, num_envs=16, learning_starts=1000,
                         buffer_size=500, batch_size=32, eval_every=25, eval_episodes=32,
                         target_update_interval=10, lr=3e-3, eps_decay_fraction=0.3,
                         num_sgd_steps=2, gamma=0.99),
    # JaxMARL's baselines/QLearning/config/alg/ql_rnn_mpe.yaml (QMIX/VDN/IQL on MPE).
    "jaxmarl_ql_rnn_mpe": Config(num_envs=8, buffer_size=5000, batch_size=32, hidden_size=64,
                                 mixer_embed_dim=32, hypernet_hidden=128, mixer_init_scale=1e-3,
                                 eps_start=1.0, eps_finish=0.05, eps_decay_fraction=0.1,
                                 max_grad_norm=25.0, target_update_interval=200, tau=1.0,
                                 num_sgd_steps=1, lr=5e-3,
                                 learning_starts=10_000, lr_linear_decay=True, gamma=0.9,
                                 total_timesteps=2_000_000),
    # pymarl2 (Hu et al. 2021) QMIX defaults: TD(lambda)=0.6, Adam 1e-3, batch 128 episodes.
    "pymarl2": Config(num_envs=8, buffer_size=5000, batch_size=128, hidden_size=64, lr=1e-3,
                      td_lambda=0.6, gamma=0.99, max_grad_norm=10.0, target_update_interval=25,
                      eps_decay_fraction=0.05, learning_starts=0, hypernet_hidden=64),
}
