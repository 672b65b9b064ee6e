"""PQN: parallel Q-learning without replay or target network (Gallici et al. 2024,
"Simplifying Deep Temporal Difference Learning"), with IQL, VDN and QMIX heads.

One update (:func:`make_stages`' ``update``) = ``num_steps`` epsilon-greedy steps of
``num_envs`` vmapped, auto-resetting envs (episodes run across updates); Q(lambda) targets
computed once on that rollout from the Q-values of the network that collected it
(:func:`q_lambda_targets`: bootstrapping through truncation from the pre-reset
``final_obs``, never through termination); then ``update_epochs`` epochs of
``num_minibatches`` (R)Adam steps on the squared error between the (mixed) Q-values of the
taken actions and those fixed targets. The data is used for these epochs and dropped.
Feed-forward agents learn from minibatches of single transitions (shuffled over steps and
envs); recurrent agents from minibatches of whole env sequences replayed from the stored
initial hidden state (resetting at episode starts).

Heads (``mixer``): ``none`` = PQN-IQL (per-agent rewards and targets), ``vdn`` = sum of the
agents' Q-values, ``qmix`` = QMIX's monotonic mixer of the global state; both mixed heads
learn the team reward (the mean of the agents' rewards). The Q-network, mixers, epsilon
schedule and evaluation are the Q-learning ones (:mod:`jaxmarl_lite.algorithms.q_learning`),
with ``layer_norm`` on by default as in PQN.

Batch layout: time-major ``[T, E, ...]`` (as PPO's :class:`~jaxmarl_lite.algorithms.ppo.Batch`).
Budget: ``num_updates = total_timesteps // (num_envs * num_steps)``.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar, Dict, Literal, NamedTuple, Sequence, Tuple

import chex
import jax
import jax.numpy as jnp
import optax

from jaxmarl_lite.algorithms._common.config import ConfigBase
from jaxmarl_lite.algorithms._common.evaluation import periodic_eval
from jaxmarl_lite.algorithms._common.gae import lambda_returns
from jaxmarl_lite.algorithms._common.hyper import (INF, HyperView, carried_schedule,
                                                   check_hyper, clipped_adam, initial_values,
                                                   set_hyperparams)
from jaxmarl_lite.algorithms._common.networks import apply_agents
from jaxmarl_lite.algorithms._common.training import (EpisodeMetrics, TrainStages, count_updates,
                                                      episode_metrics, initial_episode_metrics,
                                                      loop_metrics, train_from_stages)
from jaxmarl_lite.algorithms.ppo import minibatch_envs
from jaxmarl_lite.algorithms.q_learning import (QParams, epsilon_greedy, make_mixer,
                                                make_network, masked_argmax)
from jaxmarl_lite.algorithms.q_learning import init_params  # noqa: F401 (pqn.init_params)
from jaxmarl_lite.algorithms.q_learning import make_policy  # noqa: F401  (the module API)
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.wrappers import EpisodeStats, VecEnv


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    TUNABLE: ClassVar[Dict[str, Tuple[float, float]]] = {
        "lr": (0.0, INF), "max_grad_norm": (0.0, INF), "gamma": (0.0, 1.0),
        "q_lambda": (0.0, 1.0), "eps_start": (0.0, 1.0), "eps_finish": (0.0, 1.0),
        "eps_decay_fraction": (0.0, 1.0)}
    """Fields that can be carried as data (sweeps, PBT; :mod:`..._common.hyper`), with the
    interval their values stay in."""

    mixer: Literal["none", "vdn", "qmix"] = "vdn"
    """Value decomposition: ``none`` (PQN-IQL), ``vdn`` (sum) or ``qmix`` (hypernetwork)."""
    total_timesteps: int = 1_000_000
    """Env-step budget per seed (``num_envs * num_steps`` per update)."""
    num_envs: int = 64
    """Parallel envs (PQN replaces the replay buffer by many envs)."""
    num_steps: int = 16
    """Rollout length per env per update."""
    update_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 16
    """Minibatches per epoch: of transitions (feed-forward; must divide ``num_envs *
    num_steps``) or of whole env sequences (recurrent; must divide ``num_envs``)."""
    lr: float = 5e-4
    """Learning rate."""
    lr_linear_decay: bool = False
    """Anneal the learning rate linearly to 0 over training."""
    optimizer: Literal["adam", "radam"] = "radam"
    """Adam or rectified Adam (JaxMARL's PQN uses RAdam)."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    gamma: float = 0.99
    """Discount."""
    q_lambda: float = 0.65
    """Lambda of the Q(lambda) targets; 0 = one-step Q-learning targets."""
    eps_start: float = 1.0
    """Initial exploration epsilon."""
    eps_finish: float = 0.05
    """Final exploration epsilon."""
    eps_decay_fraction: float = 0.1
    """Fraction of the budget over which epsilon anneals linearly."""
    hidden_size: int = 128
    """Width of the Q-network (two dense layers, or dense + GRU)."""
    layer_norm: bool = True
    """LayerNorm after each hidden dense layer (what lets PQN drop the target network)."""
    recurrent: bool = False
    """GRU agents (``False``: a 2-layer MLP)."""
    parameter_sharing: bool = True
    """One network for all agents with an agent-id one-hot appended to the observation;
    ``False`` gives every agent its own parameters."""
    comm: Literal["none", "mean", "attention"] = "none"
    """Learned communication between the agents' Q-networks (as in Q-learning). Needs
    ``parameter_sharing``."""
    comm_dim: int = 16
    """Message width."""
    comm_rounds: int = 1
    """Rounds of message passing per step."""
    mixer_embed_dim: int = 32
    """QMIX mixing-network width."""
    hypernet_hidden: int = 64
    """QMIX hypernetwork hidden width."""
    hypernet_layers: int = 2
    """QMIX hypernetwork depth (1 or 2)."""
    mixer_init_scale: float | None = None
    """Orthogonal gain of every QMIX mixer kernel; ``None``: the usual gains."""
    eval_every: int = 20
    """Updates between greedy evaluations (``eval_return`` is carried in between)."""
    eval_episodes: int = 64
    """Greedy episodes per evaluation."""

    def validate(self) -> None:
        self._require_positive("total_timesteps", "num_envs", "num_steps", "update_epochs",
                               "num_minibatches", "lr", "max_grad_norm", "hidden_size",
                               "mixer_embed_dim", "hypernet_hidden", "comm_dim", "comm_rounds",
                               "eval_every", "eval_episodes")
        self._require_unit("gamma", "q_lambda", "eps_start", "eps_finish", "eps_decay_fraction")
        self._require(self.hypernet_layers in (1, 2), "hypernet_layers", "1 or 2")
        self._require(self.mixer_init_scale is None or self.mixer_init_scale > 0,
                      "mixer_init_scale", "None or > 0")
        if self.recurrent:
            self._require(self.num_envs % self.num_minibatches == 0, "num_minibatches",
                          f"a divisor of num_envs={self.num_envs} (recurrent agents learn "
                          "from whole env sequences)")
        else:
            size = self.num_envs * self.num_steps
            self._require(size % self.num_minibatches == 0, "num_minibatches",
                          f"a divisor of num_envs * num_steps = {size}")
        self._require(self.comm == "none" or self.parameter_sharing, "comm",
                      "'none' without parameter_sharing (messages pass between the agents of "
                      "one shared network)")


class Batch(NamedTuple):
    """One rollout with its fixed targets, time-major ``T = num_steps``, ``E = num_envs``."""

    obs: jax.Array  # [T, E, N, D] observations the actions were taken on
    state: jax.Array  # [T, E, S] global states (the QMIX mixer's input)
    actions: jax.Array  # [T, E, N] int32
    targets: jax.Array  # [T, E] Q(lambda) targets of the mixed value ([T, E, N] for IQL)
    resets: jax.Array  # [T, E] bool: an episode starts at this step (recurrent agents)
    h0: jax.Array  # [E, N, H] agent hidden state at the rollout's first step


def q_lambda_targets(rewards, terminated, done, next_values, gamma, q_lambda):
    """Q(lambda) targets of a rollout of auto-resetting envs, time-major ``[T, E, ...]``.

    ``next_values[t]`` = ``max_a Q(s'_t, a)`` (mixed for VDN/QMIX) of the transition's own
    next observation, the pre-reset ``final_obs`` where an episode ended, so a truncated
    episode bootstraps from its last state; ``terminated`` stops bootstrapping; ``done``
    ``[T, E]`` (terminated or truncated) stops the lambda-return from running into the next
    episode; the last step bootstraps from ``next_values[T - 1]``::

        G_t = r_t + gamma (1 - term_t) ((1 - lambda) V'_t + lambda tail_t)
        tail_t = G_{t+1} if not done_t (and t < T - 1) else V'_t
    """
    cont = ~done.astype(bool)
    cont = cont.reshape(cont.shape + (1,) * (rewards.ndim - cont.ndim))
    return lambda_returns(rewards, terminated, cont, next_values, gamma, q_lambda)


def loss(params: QParams, batch: Batch, *, config: Config, network, mixer):
    """Mean squared error between the taken actions' Q-values (mixed by ``mixer`` for
    VDN/QMIX) and the fixed ``batch.targets`` of one minibatch (time-major ``[T, B, ...]``,
    :class:`Batch`). Returns ``(loss, q_mean)``. No target network, no importance weights."""
    chex.assert_rank(batch.actions, 3)
    _, q = apply_agents(network, config.parameter_sharing, params.agent, batch.h0, batch.obs,
                        batch.resets)  # [T, B, N, A]
    q_taken = jnp.take_along_axis(q, batch.actions[..., None], axis=-1)[..., 0]  # [T, B, N]
    if mixer is not None:
        q_taken = mixer.apply(params.mixer, q_taken, batch.state)  # [T, B]
    chex.assert_equal_shape([q_taken, batch.targets])
    return jnp.mean((q_taken - batch.targets) ** 2), q_taken.mean()


def learn(params: QParams, opt_state, batch: Batch, key, *, config: Config, loss_fn, optimizer):
    """``update_epochs`` epochs of ``num_minibatches`` optimiser steps on ``loss_fn`` ->
    ``(params, opt_state, aux [epochs, minibatches, 2])`` (loss, mean Q). Feed-forward
    agents: the rollout is flattened to ``[1, E * T]`` single steps (env-major, so an env
    shard stays contiguous) and shuffled; recurrent: minibatches of whole env sequences."""
    if not config.recurrent:
        flat = lambda x: jnp.swapaxes(x, 0, 1).reshape(1, -1, *x.shape[2:])  # noqa: E731
        batch = Batch(*[flat(x) for x in batch[:-1]],
                      jnp.zeros((batch.obs.shape[0] * batch.obs.shape[1],) + batch.h0.shape[1:]))
    size = batch.obs.shape[1]

    def epoch(state, key):
        def minibatch(state, idx):
            params, opt_state = state
            mb = Batch(*[data_parallel(x[:, idx], 1) for x in batch[:-1]],
                       data_parallel(batch.h0[idx], 0))
            (value, q_mean), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), jnp.stack([value, q_mean])

        return jax.lax.scan(minibatch, state, minibatch_envs(key, size, config.num_minibatches))

    (params, opt_state), aux = jax.lax.scan(epoch, (params, opt_state),
                                            jax.random.split(key, config.update_epochs))
    return params, opt_state, aux


class Carry(NamedTuple):
    params: QParams
    opt_state: Any
    env_state: Any
    obs: jax.Array  # [E, N, D]
    first: jax.Array  # [E] an episode starts at the next step
    hidden: jax.Array  # [E, N, H]
    key: jax.Array
    update_count: jax.Array  # [] int32
    env_steps: jax.Array  # [] int32
    episodes: EpisodeMetrics
    eval_return: jax.Array  # [] last greedy evaluation (nan before the first)
    hyper: Dict[str, jax.Array]  # carried tunable values ({} for a plain config)


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names tunable fields carried as data
    (``carry.hyper``, see :mod:`jaxmarl_lite.algorithms._common.hyper`)."""
    hyper = check_hyper(config, hyper)
    if not env.is_discrete:
        raise ValueError(f"{type(env).__name__}: PQN needs discrete actions "
                         "(e.g. make(..., continuous_actions=False))")
    steps_per_update = config.num_envs * config.num_steps
    num_updates = count_updates(config.total_timesteps, steps_per_update, "num_envs * num_steps")
    n, e = env.num_agents, config.num_envs
    venv = VecEnv(EpisodeStats(env), e)
    network, mixer = make_network(config, env), make_mixer(config)
    loss_fn = functools.partial(loss, network=network, mixer=mixer)
    grad_steps = num_updates * config.update_epochs * config.num_minibatches
    optimizer = clipped_adam(config.lr, config.max_grad_norm, tunable=bool(hyper),
                             radam=config.optimizer == "radam",
                             anneal_steps=grad_steps if config.lr_linear_decay else 0)
    epsilon_at = optax.linear_schedule(
        config.eps_start, config.eps_finish,
        max(int(config.eps_decay_fraction * config.total_timesteps), 1))
    policy = make_policy(config, env)
    masks, states = jax.vmap(env.action_mask), jax.vmap(env.global_state)
    q_fn = functools.partial(apply_agents, network, config.parameter_sharing)

    def init(key) -> Carry:
        key, params_key, reset_key = jax.random.split(key, 3)
        params = init_params(config, env, params_key)
        obs, env_state = venv.reset(reset_key)
        return Carry(params, optimizer.init(params), env_state, obs, jnp.ones((e,), bool),
                     jnp.zeros((e, n, config.hidden_size)), key, jnp.zeros((), jnp.int32),
                     jnp.zeros((), jnp.int32), initial_episode_metrics(),
                     jnp.asarray(jnp.nan, jnp.float32), initial_values(config, hyper))

    def mixed(params, values, state):  # [E, N] per-agent values -> the head's values
        return values if mixer is None else mixer.apply(params.mixer, values, state)

    def rollout_step(c, key, params, epsilon):
        env_state, obs, first, hidden = c
        act_key, step_key = jax.random.split(key)
        mask = masks(env_state.env_state)
        state = states(env_state.env_state)
        hidden2, q = q_fn(params.agent, hidden, obs[None], first[None])
        actions = epsilon_greedy(act_key, q[0], mask, epsilon)
        obs2, env_state2, reward, term, trunc, info = venv.step(step_key, env_state, actions)
        done = jnp.all(term | trunc, axis=-1)
        # max_a Q of the transition's own next observation (pre-reset at an episode's end)
        _, q_next = q_fn(params.agent, hidden2, info["final_obs"][None],
                         jnp.zeros((1, e), bool))
        next_mask = jnp.where(done[:, None, None], 1.0, masks(env_state2.env_state))
        best = masked_argmax(q_next[0], next_mask)
        v_next = jnp.take_along_axis(q_next[0], best[..., None], axis=-1)[..., 0]
        out = dict(obs=obs, state=state, actions=actions, resets=first, done=done, info=info,
                   v_next=mixed(params, v_next, info["final_global_state"]),
                   reward=reward if mixer is None else reward.mean(-1),
                   term=term if mixer is None else term.all(-1))
        return (env_state2, obs2, done, hidden2), out

    def update(c: Carry):
        key, roll_key, learn_key, eval_key = jax.random.split(c.key, 4)
        hp = HyperView(config, c.hyper)
        epsilon = carried_schedule(config, c.hyper, "eps_start", "eps_finish",
                                   "eps_decay_fraction", config.total_timesteps,
                                   epsilon_at)(c.env_steps)
        step = functools.partial(rollout_step, params=c.params, epsilon=epsilon)
        (env_state, obs, first, hidden), tr = jax.lax.scan(
            step, (c.env_state, c.obs, c.first, c.hidden),
            jax.random.split(roll_key, config.num_steps))
        targets = q_lambda_targets(tr["reward"], tr["term"], tr["done"], tr["v_next"],
                                   hp.gamma, hp.q_lambda)
        batch = Batch(tr["obs"], tr["state"], tr["actions"], jax.lax.stop_gradient(targets),
                      tr["resets"], c.hidden)
        opt_state = c.opt_state
        if hyper:
            opt_state = set_hyperparams(opt_state, learning_rate=hp.lr, max_norm=hp.max_grad_norm)
        params, opt_state, aux = learn(c.params, opt_state, batch, learn_key, config=config,
                                       loss_fn=functools.partial(loss_fn, config=hp),
                                       optimizer=optimizer)
        count = c.update_count + 1
        eval_return = periodic_eval(env, policy, params, eval_key, count, num_updates, config,
                                    c.eval_return)
        episodes = episode_metrics(tr["info"], c.episodes)
        env_steps = c.env_steps + steps_per_update
        aux = aux.reshape(-1, 2).mean(0)
        metrics = loop_metrics(env_steps, episodes.episode_return, episodes.episode_length,
                               eval_return, loss=aux[0], q_mean=aux[1],
                               epsilon=jnp.asarray(epsilon, jnp.float32))
        return Carry(params, opt_state, env_state, obs, first, hidden, key, count, env_steps,
                     episodes, eval_return, c.hyper), metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; ``jax.jit(jax.vmap(make_train(cfg, env)))(keys)``
    trains one seed per key."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # JaxMARL's baselines/QLearning/config/alg/pqn_vdn_ff_mpe.yaml: 256 envs x 16 steps,
    # 2 x 256 units with LayerNorm, RAdam 5e-4 (no decay), grad clip 1, 4 epochs x 16
    # minibatches, gamma 0.9, lambda 0.3, epsilon 1 -> 0.1 over the first 10%, 10M steps.
    "jaxmarl_pqn_vdn_ff_mpe": Config(mixer="vdn", num_envs=256, num_steps=16, hidden_size=256,
                                     layer_norm=True, optimizer="radam", lr=5e-4,
                                     max_grad_norm=1.0, update_epochs=4, num_minibatches=16,
                                     gamma=0.9, q_lambda=0.3, eps_start=1.0, eps_finish=0.1,
                                     eps_decay_fraction=0.1, total_timesteps=10_000_000),
    # Small settings for the grid worlds and quick tests.
    "grid_quick": Config(num_envs=32, num_steps=16, hidden_size=64, update_epochs=2,
                         num_minibatches=4, lr=1e-3, gamma=0.99, q_lambda=0.65,
                         eps_decay_fraction=0.3, total_timesteps=100_000, eval_every=10,
                         eval_episodes=32),
}
