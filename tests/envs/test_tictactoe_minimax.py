"""The perfect tic-tac-toe player and policy-vs-opponent matches."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite.algorithms._common.evaluation import random_policy
from jaxmarl_lite.envs.tictactoe import TicTacToe
from jaxmarl_lite.envs.tictactoe_minimax import (
    minimax_policy,
    minimax_tables,
    play_matches,
)

TABLES = minimax_tables()
POWERS = 3 ** np.arange(9)


def code(board):
    return int(np.dot(board, POWERS))


def test_tables_known_positions():
    assert TABLES.value[0] == 0  # perfect play draws
    assert TABLES.optimal[0].all()  # and every opening move keeps the draw
    assert int((TABLES.best_action >= 0).sum()) == 4520  # non-final positions reachable
    # player_1 (X) to move with two in the top row: win at once in cell 2
    board = [1, 1, 0, 2, 2, 0, 0, 0, 0]
    assert TABLES.value[code(board)] == 1 and TABLES.best_action[code(board)] == 2
    # O to move facing X's diagonal 0-4(-8): O loses anyway (X forks next), so the table
    # picks the slowest loss, blocking in cell 8
    board = [1, 2, 0, 0, 1, 0, 0, 0, 0]
    assert TABLES.value[code(board)] == -1 and TABLES.best_action[code(board)] == 8
    assert TABLES.optimal[code(board)].sum() == 6  # every legal move loses
    board = [1, 0, 0, 0, 1, 0, 0, 0, 0]  # two crosses, no nought: unreachable
    assert TABLES.best_action[code(board)] == -1 and not TABLES.optimal[code(board)].any()
    # O after X corner: only the centre draws
    board = [1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert TABLES.value[code(board)] == 0
    assert np.flatnonzero(TABLES.optimal[code(board)]).tolist() == [4]


def _pz_game_vs_random(rng, minimax_seat):
    """One PettingZoo game: the table's best move against uniform random legal moves."""
    from pettingzoo.classic import tictactoe_v3

    env = tictactoe_v3.env()
    env.reset()
    board = np.zeros(9, np.int64)
    for t in range(9):
        agent = env.agent_selection
        mover = env.agents.index(agent)
        legal = np.flatnonzero(env.observe(agent)["action_mask"])
        if mover == minimax_seat:
            move = int(TABLES.best_action[code(board)])
        else:
            move = int(rng.choice(legal))
        assert move in legal
        env.step(move)
        board[move] = mover + 1
        if all(env.terminations.values()):
            return env.rewards["player_1" if minimax_seat == 0 else "player_2"]
    raise AssertionError("game did not end")


def test_minimax_never_loses_to_random_in_pettingzoo():
    pytest.importorskip("pettingzoo")
    rng = np.random.default_rng(0)
    results = [_pz_game_vs_random(rng, seat) for seat in (0, 1) for _ in range(100)]
    assert min(results) >= 0
    assert sum(r > 0 for r in results) >= 150  # and usually wins


def test_play_matches_minimax_vs_random_and_itself():
    mm = minimax_policy()
    vs_random = play_matches(mm, (), jax.random.key(0), 400, "random")
    assert vs_random.losses.sum() == 0 and vs_random.wins.sum() >= 300
    assert vs_random.wins.tolist() != [0, 0] and int(np.sum(vs_random)) == 400
    vs_self = play_matches(mm, (), jax.random.key(1), 400, "minimax")
    assert vs_self.totals() == {"wins": 0, "draws": 400, "losses": 0}


def test_play_matches_random_policy_loses_to_minimax_and_seats_alternate():
    rp = random_policy(TicTacToe())
    res = play_matches(rp, (), jax.random.key(2), 400, "minimax")
    assert res.wins.sum() == 0 and res.losses.sum() > 300
    assert (res.wins + res.draws + res.losses).tolist() == [200, 200]
    res = play_matches(rp, (), jax.random.key(3), 400, "random")
    # random vs random: the first player wins more often (about 58% vs 29%)
    assert res.wins[0] > res.losses[0] and res.losses[1] > res.wins[1]


def test_play_matches_uses_params_and_counts_illegal_moves_as_losses():
    def act(params, carry, obs, mask, first, key):
        return jnp.full(obs.shape[:2], params, jnp.int32), carry  # always the same cell

    from jaxmarl_lite.algorithms._common.evaluation import Policy

    fixed = Policy(init_carry=lambda n: (), act=act)
    res = play_matches(fixed, jnp.int32(4), jax.random.key(0), 20, "random")
    # replaying an occupied cell is illegal at the latest on its second move
    assert res.losses.sum() == 20
    with pytest.raises(ValueError, match="opponent"):
        play_matches(fixed, jnp.int32(4), jax.random.key(0), 4, "perfect")


# ------------------------------------------------------------------ exhaustive evaluation
def _lowest_empty_cell():
    from jaxmarl_lite.algorithms._common.evaluation import Policy

    def act(params, carry, obs, mask, first, key):
        return jnp.argmax(mask > 0, axis=-1).astype(jnp.int32), carry

    return Policy(init_carry=lambda n: (), act=act)


def _brute_force_lines(moves, seat):
    """Every line of play against every legal reply, enumerated without memoisation."""
    def winner(b):
        return any(b[i] != 0 and b[i] == b[j] == b[k] for i, j, k in
                   [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8),
                    (0, 4, 8), (2, 4, 6)])

    def walk(b):
        mark = 1 if b.count(1) == b.count(2) else 2
        cells = [moves[b]] if mark - 1 == seat else [c for c in range(9) if b[c] == 0]
        lines = lost = 0
        for c in cells:
            if b[c] != 0:
                return 1, 1
            child = b[:c] + (mark,) + b[c + 1:]
            if winner(child):
                lines, lost = lines + 1, lost + (mark - 1 != seat)
            elif all(child):
                lines += 1
            else:
                sub = walk(child)
                lines, lost = lines + sub[0], lost + sub[1]
        return lines, lost

    return walk((0,) * 9)


def test_exhaustive_eval_perfect_player_never_loses_and_counts_lines():
    from jaxmarl_lite.envs.tictactoe_minimax import exhaustive_eval, policy_moves

    moves = policy_moves(minimax_policy(deterministic=True), (), jax.random.key(0))
    assert len(moves) == 4520
    for seat, lines in enumerate(exhaustive_eval(moves)):
        assert lines.lost_any == lines.lost_optimal == 0 and lines.loss_prob_minimax == 0.0
        assert (lines.lines_any, lines.lost_any) == _brute_force_lines(moves, seat)
        assert 0 < lines.lines_optimal <= lines.lines_any


def test_exhaustive_eval_of_a_weak_player_agrees_with_enumeration_and_sampled_games():
    from jaxmarl_lite.envs.tictactoe_minimax import exhaustive_eval, policy_moves

    policy = _lowest_empty_cell()
    moves = policy_moves(policy, (), jax.random.key(0))
    result = exhaustive_eval(moves)
    games = play_matches(policy, (), jax.random.key(7), 4000, "minimax")  # uniform optimal
    for seat, lines in enumerate(result):
        assert (lines.lines_any, lines.lost_any) == _brute_force_lines(moves, seat)
        assert 0 < lines.lost_optimal <= lines.lines_optimal
        sampled = float(games.losses[seat]) / 2000
        p = lines.loss_prob_minimax
        assert abs(sampled - p) < 4 * np.sqrt(p * (1 - p) / 2000) + 1e-9, (seat, sampled, p)
    # a player that always plays cell 4 loses every line by an illegal move: as player_2,
    # at once after an opening in 4, else on its second move (8 openings x 7 replies)
    from jaxmarl_lite.algorithms._common.evaluation import Policy

    fixed = Policy(lambda n: (), lambda p, c, obs, m, f, k: (jnp.full(obs.shape[:2], 4), c))
    second = exhaustive_eval(policy_moves(fixed, (), jax.random.key(0)))[1]
    assert second.lost_any == second.lines_any == 1 + 8 * 7 and second.loss_prob_minimax == 1.0
