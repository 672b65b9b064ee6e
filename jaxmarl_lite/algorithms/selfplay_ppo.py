"""Self-play PPO for two-player turn-based games with action masks (tic-tac-toe).

The learner sees a single-agent view of the game: one *decision* = the learner moves, then
its opponent replies, and when a game ends a new one starts with a fresh seat for the
learner (``player_1`` moves first, ``player_2`` second, drawn at random) and a fresh
opponent, who opens the game when the learner plays second. A decision thus spans one to
three env steps (all computed, then selected with ``jnp.where``, so everything stays
vmapped over ``num_envs`` inside one ``lax.scan``). The learner's reward for a decision is
the sum of its rewards over its move and the opponent's reply; the decision is terminal
when the game ended in either. Only the learner's decisions enter PPO.

Opponents come from :mod:`jaxmarl_lite.selfplay`: at every game start each env plays a
uniformly random legal player with probability ``random_opponent_prob`` (positions that
strong players never reach, so the learner also learns to punish and survive bad play), else
the current parameters with probability ``self_play_prob`` (always while the pool is empty),
else a snapshot drawn uniformly from an :class:`~jaxmarl_lite.selfplay.OpponentPool` of past
parameters, into which the current ones are written every ``snapshot_every`` updates.
Opponents sample from their policy (or play its most likely move with
``greedy_opponents``), except that with ``opponent_random_move_prob`` a policy opponent's
move is replaced by a uniformly random legal one (strong play from off-book positions).
With ``random_start_prob`` a game starts after a few uniformly random moves for both players
(exploring starts). With ``canonical_boards`` every player's view goes through
:func:`~jaxmarl_lite.selfplay.canonical_view` (the env's ``symmetries()``: for tic-tac-toe
the eight rotations and reflections), so the networks see one representative per class of
symmetric positions and play them alike. With ``exploiter_prob`` a second network, the
*exploiter* (AlphaStar's main exploiter), trains by the same PPO only against the current
learner, in its own ``num_envs`` games, and plays that share of the learner's policy-opponent
games: a best response that keeps finding the lines the learner still loses. The learner
is evaluated greedily every ``eval_every`` updates against a uniformly random player and a
perfect minimax player (:func:`~jaxmarl_lite.envs.tictactoe_minimax.play_matches`, both
seats). A trained agent can also play by searching a few moves ahead on its learned critic
(:func:`make_policy` with ``lookahead``).

The optimisation is PPO's (:func:`jaxmarl_lite.algorithms.ppo.learn`: clipped surrogate and
value loss, entropy bonus, epochs x minibatches, Adam) with feed-forward actor and critic
on the mover's view of the board (values are not normalised: returns lie in [-1, 1]).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jaxmarl_lite import selfplay
from jaxmarl_lite.algorithms import ppo
from jaxmarl_lite.algorithms._common.evaluation import Policy
from jaxmarl_lite.algorithms._common.gae import gae
from jaxmarl_lite.algorithms._common.hyper import HyperView, check_hyper, initial_values
from jaxmarl_lite.algorithms._common.training import TrainStages, count_updates, train_from_stages
from jaxmarl_lite.parallel import data_parallel
from jaxmarl_lite.spaces import random_legal
from jaxmarl_lite.typecheck import require_int


@dataclasses.dataclass(frozen=True)
class Config(ppo.Config):
    """PPO's fields (:class:`jaxmarl_lite.algorithms.ppo.Config`) plus the self-play ones."""

    critic: str = "local"
    """Critic on the learner's own view (the only choice here)."""
    value_norm: bool = False
    """Must stay ``False``: returns lie in [-1, 1]."""
    num_envs: int = 64
    """Parallel games."""
    num_steps: int = 16
    """Learner decisions per env per update."""
    lr: float = 1e-3
    """Adam learning rate."""
    ent_coef: float = 0.01
    """Entropy bonus weight."""
    total_timesteps: int = 2_000_000
    """Budget in learner decisions per seed (``num_envs * num_steps`` per update)."""
    pool_size: int = 16
    """Past snapshots kept in the opponent pool (a ring: the oldest is overwritten)."""
    snapshot_every: int = 10
    """Updates between snapshots of the current parameters into the pool."""
    self_play_prob: float = 0.5
    """Share of the non-random games played against the current parameters (the rest: pool
    snapshots)."""
    random_opponent_prob: float = 0.0
    """Share of games played against a uniformly random legal player."""
    opponent_random_move_prob: float = 0.0
    """Per move, the chance that a policy opponent (current or past parameters) plays a
    uniformly random legal move instead of its own: strong play from off-book positions
    (e.g. a corner opening that must be answered in the centre), which all-random opponents
    reach but do not punish and pure self-play does not reach."""
    greedy_opponents: bool = False
    """Policy opponents (current or past parameters) play their most likely move instead of
    sampling one: a learner's blunder is punished whenever the opponent knows the answer,
    not only as often as its sampled policy finds it."""
    random_start_prob: float = 0.0
    """Share of games that start from a random position: 1 to ``random_start_plies``
    uniformly random legal moves are played for both players before the learner (in its
    drawn seat) and its opponent take over. The learner then also meets, in either seat,
    the openings its own policy and its opponents would not play (exploring starts)."""
    random_start_plies: int = 2
    """Most random moves before a random-start game (drawn uniformly from 1 to this)."""
    eval_games: int = 200
    """Greedy games (half per seat) against random and against minimax per evaluation."""
    exploiter_prob: float = 0.0
    """Share of the games against a policy opponent (not random) played against the
    exploiter instead of the current parameters or a pool snapshot. 0: no exploiter (none is
    trained); > 0 trains one, which doubles the decisions computed per update (its games are
    not counted in ``total_timesteps``, the learner's budget)."""
    exploiter_reset_every: int = 0
    """Updates between restarts of the exploiter from fresh weights and optimiser state
    (0: never), so that it looks for new weaknesses instead of only tracking the learner."""
    canonical_boards: bool = False
    """Play and learn on one canonical representative of each view under the game's
    symmetries (``env.symmetries()``; :func:`jaxmarl_lite.selfplay.canonical_view`): the
    networks see ~8x fewer distinct tic-tac-toe positions and play symmetric positions
    alike. Transitions store the canonical view and action."""

    def validate(self) -> None:
        super().validate()
        self._require(self.critic == "local", "critic", "'local' (the learner's own view)")
        self._require(not self.recurrent, "recurrent", "False (feed-forward agents)")
        self._require(not self.value_norm, "value_norm", "False (returns lie in [-1, 1])")
        self._require_positive("pool_size", "snapshot_every")
        self._require_unit("self_play_prob")
        self._require_unit("random_opponent_prob")
        self._require_unit("opponent_random_move_prob")
        self._require_unit("random_start_prob")
        self._require_positive("random_start_plies")
        self._require_unit("exploiter_prob")
        self._require_nonnegative("exploiter_reset_every")
        self._require(self.eval_games >= 2, "eval_games", ">= 2 (one game per seat)")


class Seat(NamedTuple):
    """One env's game as the learner sees it."""

    obs: jax.Array  # [2, D] both players' views
    state: Any
    seat: jax.Array  # [] int32: the learner plays player_1 (0) or player_2 (1)
    opponent: Any  # opponent parameters for this game
    random_opponent: jax.Array  # [] bool: the opponent plays uniformly random legal moves


class Exploiter(NamedTuple):
    """The exploiter's network, optimiser state and own games (leading ``[num_envs]``),
    every one against the current learner."""

    params: ppo.Params
    opt_state: Any
    games: Seat


class Carry(NamedTuple):
    params: ppo.Params
    opt_state: Any
    pool: selfplay.OpponentPool
    games: Seat  # leading [num_envs]
    exploiter: Any  # Exploiter, or None without one (exploiter_prob == 0)
    key: jax.Array
    update_count: jax.Array
    env_steps: jax.Array
    evals: jax.Array  # [4] last greedy evaluation: win/loss vs random, draw/loss vs minimax
    hyper: Dict[str, jax.Array]  # carried tunable values ({} for a plain config)


class BatchNets(NamedTuple):
    """The feed-forward networks on a batch of ``B`` views (no hidden state carried)."""

    dist: Any  # (params, obs [B, D], mask [B, A]) -> policy distribution over [1, B, 1]
    value: Any  # (params, obs [B, D]) -> values [B]


def make_batch_nets(config: Config, env) -> BatchNets:
    """``config``'s networks applied to ``B`` independent views at once, as one time step of
    ``B`` single-agent sequences (the feed-forward networks carry no hidden state)."""
    nets = ppo.make_nets(config, env)

    def steps(x):  # [B, ...] -> the networks' [time 1, B, agent 1, ...]
        return x.reshape((1, x.shape[0], 1) + x.shape[1:])

    def hidden(b):
        return jnp.zeros((b, 1, config.hidden_size)), jnp.zeros((1, b), bool)

    def dist(params, obs, mask):
        h, no_reset = hidden(obs.shape[0])
        return nets.dist(params, h, steps(obs), steps(mask), no_reset)[1]

    def value(params, obs):
        h, no_reset = hidden(obs.shape[0])
        return nets.value(params, h, steps(obs), no_reset)[1].reshape(obs.shape[0])

    return BatchNets(dist, value)


def make_canon(config: Config, env):
    """``(obs [D], mask [A]) -> (obs, mask, cells [A])``: the view the networks see and,
    per network action, the env action it stands for (the identity unless
    ``config.canonical_boards``)."""
    if not config.canonical_boards:
        return lambda obs, mask: (obs, mask, jnp.arange(mask.shape[-1], dtype=jnp.int32))
    if not hasattr(env, "symmetries"):
        raise ValueError(f"canonical_boards=True needs an env with symmetries(); "
                         f"{type(env).__name__} has none")
    perms = tuple(jnp.asarray(p) for p in env.symmetries())
    return lambda obs, mask: selfplay.canonical_view(obs, mask, *perms)


def make_policy(config: Config, env, lookahead: int = 0) -> Policy:
    """Greedy legal move for every player row (``play_matches`` reads the mover's).

    With ``lookahead = d > 0`` the mover searches ``d`` plies ahead instead
    (:func:`jaxmarl_lite.selfplay.negamax_scores` from the position the views show,
    ``env.state_from_obs``, with the critic's value at the leaves) and plays the move with
    the best score, ties broken by the actor's preference. The game must be two-player,
    zero-sum, with deterministic moves and rewards only where it ends (as tic-tac-toe).
    Search multiplies the network calls by up to ``A ** d`` per move; it changes only how a
    trained agent plays, not training."""
    require_int("make_policy", "lookahead", lookahead, 0, "plies")
    if lookahead and not hasattr(env, "state_from_obs"):
        raise ValueError(f"make_policy: lookahead > 0 needs an env with state_from_obs(); "
                         f"{type(env).__name__} has none")
    nets = make_batch_nets(config, env)
    canon = jax.vmap(make_canon(config, env))
    num_actions = env.num_actions

    def preferences(params, obs, mask):
        """Mover views ``[B, D]``, masks ``[B, A]`` -> (policy probabilities ``[B, A]`` per
        env action, its greedy env action ``[B]``)."""
        b = obs.shape[0]
        seen, seen_mask, cells = canon(obs, mask)
        dist = nets.dist(params, seen, seen_mask)
        probs = dist.probs.reshape(b, -1)
        per_cell = jax.vmap(lambda c, p: jnp.zeros_like(p).at[c].set(p))(cells, probs)
        greedy = jnp.take_along_axis(cells, dist.mode().reshape(b, 1), 1)[:, 0]
        return per_cell, greedy  # (unused outputs are dropped when compiled)

    def values(params, obs):
        """Views ``[B, D]`` of the player to move -> the critic's values ``[B]``."""
        return nets.value(params, canon(obs, jnp.ones((obs.shape[0], num_actions)))[0])

    def act(params: ppo.Params, carry, obs, mask, first, key):
        del first, key
        g, n, d = obs.shape
        if not lookahead:
            _, greedy = preferences(params, obs.reshape(g * n, d), mask.reshape(g * n, -1))
            return greedy.reshape(g, n), carry
        mover = jax.vmap(selfplay.mover)(mask)
        mover_obs = jnp.take_along_axis(obs, mover[:, None, None], 1)[:, 0]
        mover_mask = jnp.take_along_axis(mask, mover[:, None, None], 1)[:, 0]
        probs, _ = preferences(params, mover_obs, mover_mask)
        q = jax.vmap(lambda o: selfplay.negamax_scores(
            env, functools.partial(values, params), env.state_from_obs(o), lookahead))(obs)
        best = q >= jnp.max(q, axis=-1, keepdims=True) - 1e-6  # ties, up to float rounding
        choice = jnp.argmax(jnp.where(best & (mover_mask > 0), probs + 1.0, 0.0), axis=-1)
        return jnp.broadcast_to(choice[:, None].astype(jnp.int32), (g, n)), carry

    return Policy(lambda num_envs: (), act)


class Game(NamedTuple):
    """The single-agent view's pieces (pure functions of one env; vmap them over envs)."""

    view: Any  # (params, obs [D], mask [A]) -> (distribution, value [])
    learner_view: Any  # (games) -> learner's (network obs [D], mask [A], env action per choice [A])
    new_games: Any  # (params, pool, games, start, key, exploiter, rival) -> (games, env steps [])
    decision: Any  # (params, pool, games, key, exploiter, rival) -> (games, transition dict)


def make_game(config: Config, env) -> Game:
    """The learner's view of ``env`` (see the module docstring). ``decision``'s transition
    holds the learner's ``obs``, ``mask``, ``action`` (as the networks saw them: canonical
    with ``canonical_boards``), ``log_prob``, ``value``, ``reward``, ``done``, its ``seat`` and
    the ``env_steps`` the decision took."""
    nets = make_batch_nets(config, env)
    canon = make_canon(config, env)

    def view(params, obs, mask):
        """One board view ``[D]``, mask ``[A]`` -> (distribution over ``[1, 1, 1]``, value)."""
        return nets.dist(params, obs[None], mask[None]), nets.value(params, obs[None])[0]

    def learner_view(games: Seat):
        """The learner's board view as the networks see it (see :func:`make_canon`)."""
        return canon(games.obs[games.seat], env.action_mask(games.state)[games.seat])

    def opponent_turn(games: Seat, obs, state, key):
        """The player to move (the opponent) samples a move from its policy, or uniformly
        among legal moves for a random opponent (and with ``opponent_random_move_prob``
        for any opponent), and plays it."""
        act_key, rand_key, coin_key, step_key = jax.random.split(key, 4)
        mask = env.action_mask(state)
        mover = selfplay.mover(mask)
        seen, seen_mask, cells = canon(obs[mover], mask[mover])
        dist, _ = view(games.opponent, seen, seen_mask)
        random_move = games.random_opponent | (
            jax.random.uniform(coin_key) < config.opponent_random_move_prob)
        move = jnp.where(random_move,
                         random_legal(rand_key, mask[mover]),
                         cells[(dist.mode() if config.greedy_opponents
                                else dist.sample(seed=act_key)).reshape(())]).astype(jnp.int32)
        obs, state, reward, term, trunc, _ = env.step(step_key, state, jnp.full((2,), move))
        return obs, state, reward, jnp.all(term | trunc)

    def random_plies(obs, state, count, key):
        """Plays ``count`` (<= ``random_start_plies``) uniformly random legal moves."""
        def ply(i, carry):
            obs, state = carry
            move_key, step_key = jax.random.split(jax.random.fold_in(key, i))
            mask = env.action_mask(state)
            move = random_legal(move_key, mask[selfplay.mover(mask)])
            nxt = env.step(step_key, state, jnp.full((2,), move))[:2]
            return selfplay.tree_where(i < count, nxt, (obs, state))

        return jax.lax.fori_loop(0, config.random_start_plies, ply, (obs, state))

    def new_games(params, pool, games: Seat, start, key, exploiter=None, rival=None):
        """Where ``start``: a fresh seat and opponent, with ``random_start_prob`` a few random
        moves first; then the opponent moves if it is not the learner's turn. The opponent
        is ``rival`` in every game if given (the exploiter's games: the learner's
        parameters), else random, the current parameters, a pool snapshot or, with
        probability ``exploiter_prob`` among the policy opponents, ``exploiter``."""
        seat_key, opp_key, rand_key, open_key = jax.random.split(key, 4)
        seat = jnp.where(start, jax.random.bernoulli(seat_key).astype(jnp.int32), games.seat)
        if rival is not None:
            chosen = rival
        else:
            chosen, _ = selfplay.choose_opponent(pool, params, opp_key, config.self_play_prob)
            if exploiter is not None:  # own key stream: the default's keys stay as they were
                coin = jax.random.bernoulli(jax.random.fold_in(key, 2), config.exploiter_prob)
                chosen = selfplay.tree_where(coin, exploiter, chosen)
        random_opponent = (jax.random.bernoulli(rand_key, config.random_opponent_prob)
                           & (rival is None))
        random_opponent = jnp.where(start, random_opponent, games.random_opponent)
        obs, state, plies = games.obs, games.state, jnp.zeros((), jnp.int32)
        if config.random_start_prob > 0:  # own key stream: the default's keys stay as they were
            coin_key, count_key, plies_key = jax.random.split(jax.random.fold_in(key, 1), 3)
            count = jax.random.randint(count_key, (), 1, config.random_start_plies + 1)
            plies = jnp.where(start & jax.random.bernoulli(coin_key, config.random_start_prob),
                              count, 0)
            obs, state = random_plies(obs, state, plies, plies_key)
        games = Seat(obs, state, seat, selfplay.tree_where(start, chosen, games.opponent),
                     random_opponent)
        obs, state, _, _ = opponent_turn(games, obs, state, open_key)
        opens = start & (selfplay.mover(env.action_mask(games.state)) != seat)
        obs, state = selfplay.tree_where(opens, (obs, state), (games.obs, games.state))
        return games._replace(obs=obs, state=state), plies + opens.astype(jnp.int32)

    def decision(params, pool, games: Seat, key, exploiter=None, rival=None):
        """One learner decision in one env -> (games, transition dict); ``exploiter`` and
        ``rival`` choose new games' opponents as in ``new_games``."""
        act_key, step_key, reply_key, new_key = jax.random.split(key, 4)
        seat = games.seat
        obs, mask, cells = learner_view(games)
        dist, value = view(params, obs, mask)
        action = dist.sample(seed=act_key).reshape(())
        log_prob = dist.log_prob(action[None, None, None]).reshape(())
        obs1, state1, r1, term, trunc, _ = env.step(step_key, games.state,
                                                    jnp.full((2,), cells[action]))
        ended = jnp.all(term | trunc)
        obs2, state2, r2, ended2 = opponent_turn(games, obs1, state1, reply_key)
        reply = ~ended
        obs1, state1 = selfplay.tree_where(reply, (obs2, state2), (obs1, state1))
        reward = r1[games.seat] + jnp.where(reply, r2[games.seat], 0.0)
        done = ended | (reply & ended2)
        games, start_steps = new_games(params, pool, games._replace(obs=obs1, state=state1),
                                       done, new_key, exploiter, rival)
        steps = 1 + reply.astype(jnp.int32) + start_steps
        return games, dict(obs=obs, mask=mask, action=action.astype(jnp.int32),
                           log_prob=log_prob, value=value, reward=reward, done=done,
                           seat=seat, env_steps=steps)

    return Game(view, learner_view, new_games, decision)


def init_params(config: Config, env, key) -> ppo.Params:
    """Fresh parameters of the one policy/value network that plays both seats (its input:
    the mover's view with one seat-id feature)."""
    return _init_params(config, env, ppo.make_nets(config, env), *jax.random.split(key))


def _init_params(config: Config, env, nets, actor_key, critic_key) -> ppo.Params:
    dummy = (jnp.zeros((1, config.hidden_size)), jnp.zeros((1, 1, env.obs_dim + 1)),
             jnp.zeros((1, 1), bool))
    return ppo.Params(nets.actor.init(actor_key, *dummy), nets.critic.init(critic_key, *dummy),
                      jnp.zeros((env.num_actions,)))


def make_stages(config: Config, env, hyper: Sequence[str] = ()) -> TrainStages:
    """The loop as ``init``/``update``; ``hyper`` names PPO's tunable fields carried as data
    (:mod:`jaxmarl_lite.algorithms._common.hyper`)."""
    hyper = check_hyper(config, hyper)
    from jaxmarl_lite.envs.tictactoe_minimax import play_matches

    selfplay.require_turn_based(env, "self-play PPO")
    per_update = config.num_envs * config.num_steps
    num_updates = count_updates(config.total_timesteps, per_update, "num_envs * num_steps")
    nets = ppo.make_nets(config, env)
    optimizer = ppo.make_optimizer(config, num_updates, tunable=bool(hyper))
    policy = make_policy(config, env)
    game = make_game(config, env)
    view, learner_view, new_games, decision = game

    def start_games(params, pool, reset_key, games_key, exploiter=None, rival=None) -> Seat:
        """``num_envs`` fresh games, opponents as in ``new_games``."""
        obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, config.num_envs))
        opponents = jax.tree.map(lambda x: jnp.broadcast_to(x, (config.num_envs,) + x.shape),
                                 params)
        blank = Seat(obs, state, jnp.zeros((config.num_envs,), jnp.int32), opponents,
                     jnp.zeros((config.num_envs,), bool))
        return jax.vmap(lambda g, k: new_games(params, pool, g, True, k, exploiter, rival)[0])(
            blank, jax.random.split(games_key, config.num_envs))

    def new_exploiter(learner, pool, key) -> Exploiter:
        """Fresh exploiter weights and optimiser state, and games against ``learner``."""
        actor_key, critic_key, reset_key, games_key = jax.random.split(key, 4)
        params = _init_params(config, env, nets, actor_key, critic_key)
        return Exploiter(params, optimizer.init(params),
                         start_games(learner, pool, reset_key, games_key, rival=learner))

    def init(key) -> Carry:
        key, ka, kc, kr, kg = jax.random.split(key, 5)
        params = _init_params(config, env, nets, ka, kc)
        pool = selfplay.init_pool(params, config.pool_size)
        exploiter = (new_exploiter(params, pool, jax.random.fold_in(kg, 1))
                     if config.exploiter_prob > 0 else None)
        games = start_games(params, pool, kr, kg, None if exploiter is None else exploiter.params)
        return Carry(params, optimizer.init(params), pool, games, exploiter, key,
                     jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32),
                     jnp.full((4,), jnp.nan, jnp.float32), initial_values(config, hyper))

    def evaluate(params, key):
        rand_key, mm_key = jax.random.split(key)
        rand = play_matches(policy, params, rand_key, config.eval_games, "random")
        perfect = play_matches(policy, params, mm_key, config.eval_games, "minimax")
        n = float(config.eval_games)
        return jnp.stack([rand.wins.sum() / n, rand.losses.sum() / n,
                          perfect.draws.sum() / n, perfect.losses.sum() / n]).astype(jnp.float32)

    def play_and_learn(params, opt_state, games: Seat, pool, hyper, count, roll_key,
                       learn_key, exploiter=None, rival=None):
        """``num_steps`` decisions in every game (opponents as in ``new_games``), GAE and
        PPO's epochs -> (params, opt_state, games, transitions, [3] losses)."""
        hp = HyperView(config, hyper)
        step = jax.vmap(lambda g, k: decision(params, pool, g, k, exploiter, rival))

        def scan_step(games, key):
            return data_parallel(step(games, jax.random.split(key, config.num_envs)))

        games, tr = jax.lax.scan(scan_step, games,
                                 jax.random.split(roll_key, config.num_steps))
        last_value = jax.vmap(lambda g: view(params, *learner_view(g)[:2])[1])(games)
        next_values = jnp.concatenate([tr["value"][1:], last_value[None]], 0)
        adv, targets = gae(tr["reward"], tr["value"], next_values, tr["done"], tr["done"],
                           hp.gamma, hp.gae_lambda)
        agent = lambda x: x[:, :, None]  # noqa: E731  (a single learner on the agent axis)
        h0 = jnp.zeros((config.num_envs, 1, config.hidden_size))
        batch = ppo.Batch(agent(tr["obs"]), agent(tr["obs"]), agent(tr["mask"]),
                          agent(tr["action"]), agent(tr["log_prob"]), agent(tr["value"]),
                          agent(adv), agent(targets),
                          jnp.zeros((config.num_steps, config.num_envs), bool),
                          ppo.Hidden(h0, h0))
        params, opt_state, aux = ppo.learn(
            params, opt_state, batch, learn_key, nets=nets, optimizer=optimizer,
            ent_coef=ppo.entropy_weight(hp, count, num_updates), hyper=hyper)
        return params, opt_state, games, tr, aux.reshape(-1, 3).mean(0)

    def outcomes(tr):
        """Shares of the games finished in a rollout that the learner won, drew, lost, and
        their mean return."""
        done = tr["done"].astype(jnp.float32)
        games_done = jnp.maximum(done.sum(), 1.0)
        return [(done * x).sum() / games_done
                for x in (tr["reward"] > 0, tr["reward"] == 0, tr["reward"] < 0, tr["reward"])]

    def update(c: Carry):
        key, roll_key, learn_key, eval_key = jax.random.split(c.key, 4)
        x = c.exploiter
        params, opt_state, games, tr, aux = play_and_learn(
            c.params, c.opt_state, c.games, c.pool, c.hyper, c.update_count, roll_key, learn_key,
            exploiter=None if x is None else x.params)
        count = c.update_count + 1
        pool = selfplay.add_if(c.pool, params, count % config.snapshot_every == 0)
        extra = {}
        if x is not None:  # the exploiter plays and learns against the learner it faced
            x_roll, x_learn, x_new = jax.random.split(jax.random.fold_in(c.key, 1), 3)
            x_params, x_opt, x_games, x_tr, _ = play_and_learn(
                x.params, x.opt_state, x.games, c.pool, c.hyper, c.update_count, x_roll, x_learn,
                rival=c.params)
            x = Exploiter(x_params, x_opt, x_games)
            if config.exploiter_reset_every:
                x = jax.lax.cond(count % config.exploiter_reset_every == 0,
                                 lambda _: new_exploiter(params, pool, x_new), lambda _: x, None)
            x_win, _, x_loss, _ = outcomes(x_tr)
            extra = dict(exploiter_win_rate=x_win, exploiter_loss_rate=x_loss)
        evals = jax.lax.cond((count % config.eval_every == 0) | (count == num_updates),
                             lambda _: evaluate(params, eval_key), lambda _: c.evals, None)
        win, draw, loss, episode_return = outcomes(tr)
        env_steps = c.env_steps + tr["env_steps"].sum()
        metrics = dict(env_steps=env_steps.astype(jnp.float32),
                       episode_return=episode_return,
                       win_rate=win, draw_rate=draw, loss_rate=loss,
                       eval_return=evals[0] - evals[1],
                       eval_win_random=evals[0], eval_loss_random=evals[1],
                       eval_draw_minimax=evals[2], eval_loss_minimax=evals[3],
                       value_loss=aux[0], actor_loss=aux[1], entropy=aux[2], **extra)
        return Carry(params, opt_state, pool, games, x, key, count, env_steps, evals,
                     c.hyper), metrics

    return TrainStages(init, update, num_updates)


def make_train(config: Config, env):
    """``train(key) -> TrainResult``; vmap it over keys to train many seeds at once."""
    return train_from_stages(make_stages(config, env))


PRESETS: dict[str, Config] = {
    # The benchmark's settings (benchmarks/selfplay_tictactoe.py).
    # Tuned on 2 seeds, then 4 (README, benchmarks section): without random opponents the
    # greedy policy kept losing ~20% of games to a random player; a wider network and a
    # larger entropy bonus fixed most of the draws against minimax; canonical boards (the
    # eight symmetries) gave the first seed that meets both targets, and run ~15% faster;
    # twice the decisions with the entropy weight annealed to 0.01 made the 3-ply search
    # meet both targets on every seed.
    "tictactoe": Config(total_timesteps=6_000_000, eval_every=50, hidden_size=128,
                        ent_coef=0.05, ent_coef_final=0.01, random_opponent_prob=0.2,
                        pool_size=64, snapshot_every=5, canonical_boards=True),
    # A short run for tests and smoke checks.
    "quick": Config(total_timesteps=64 * 16 * 40, eval_every=20, eval_games=100),
}
# The same with an exploiter (a quarter of the policy-opponent games, restarted every 1000 of
# the 5859 updates); screened on keys 20-23 (docs/algorithms.md).
PRESETS["tictactoe_exploiter"] = PRESETS["tictactoe"].replace(exploiter_prob=0.25,
                                                              exploiter_reset_every=1000)
