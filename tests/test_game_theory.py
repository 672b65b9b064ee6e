"""Game-theory tools against known answers."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_lite import game_theory as gt
from jaxmarl_lite.envs.matrix_games import payoff_table

C, D = 0, 1
fictitious_play = jax.jit(gt.fictitious_play, static_argnums=1)
replicator = jax.jit(gt.replicator_dynamics, static_argnums=1)


def ne(game, **kw):
    return gt.joint_actions(gt.pure_nash_equilibria(payoff_table(game, **kw)))


def pareto(game, **kw):
    return gt.joint_actions(gt.pareto_optimal(payoff_table(game, **kw)))


def test_prisoners_dilemma_defect_defect_only_ne_and_not_pareto_optimal():
    assert ne("prisoners_dilemma") == [(D, D)]
    assert (D, D) not in pareto("prisoners_dilemma")
    assert pareto("prisoners_dilemma") == [(C, C), (C, D), (D, C)]


def test_stag_hunt_two_pure_equilibria_and_payoff_dominant_one():
    assert ne("stag_hunt") == [(0, 0), (1, 1)]
    assert pareto("stag_hunt") == [(0, 0)]


def test_zero_sum_games_have_no_pure_ne_and_everything_is_pareto_optimal():
    for game in ("rock_paper_scissors", "matching_pennies"):
        assert ne(game) == []
        p = payoff_table(game)
        assert bool(gt.pareto_optimal(p).all())


def test_chicken_anti_coordination_equilibria():
    assert ne("chicken") == [(0, 1), (1, 0)]


def test_climbing_game_optimum_and_equilibria():
    p = payoff_table("climbing_game")
    best, value = gt.max_welfare(p)
    assert gt.joint_actions(best) == [(0, 0)] and float(value) == 22.0  # 11 each
    assert float(p[0, 0, 0]) == 11.0
    assert pareto("climbing_game") == [(0, 0)]
    assert ne("climbing_game") == [(0, 0), (1, 1)]  # (b, b) is the miscoordination trap


@pytest.mark.parametrize("k", [-10.0, -100.0, 0.0])
def test_penalty_game(k):
    assert ne("penalty_game", penalty_k=k) == [(0, 2), (1, 1), (2, 0)]
    assert pareto("penalty_game", penalty_k=k) == [(0, 2), (2, 0)]


def test_best_responses_by_hand():
    p = payoff_table("stag_hunt")
    br = np.asarray(gt.pure_best_responses(p))
    # agent 0 best-responds with stag to stag and hare to hare
    assert br[0, :, 0].tolist() == [True, False] and br[0, :, 1].tolist() == [False, True]
    # against an opponent hunting stag with probability 0.4, hare (3*0.4 + 2*0.6 = 2.4) beats
    # stag (4 * 0.4 = 1.6)
    other = jnp.array([0.4, 0.6])
    np.testing.assert_allclose(gt.action_values(p, (None, other), 0), [1.6, 2.4], rtol=1e-6)
    np.testing.assert_array_equal(gt.best_response(p, (None, other), 0), [0, 1])
    np.testing.assert_array_equal(gt.best_response(p, (jnp.array([0.9, 0.1]), None), 1), [1, 0])


def test_three_player_pure_ne_and_values():
    # a 3-player coordination game: payoff 1 to everyone when all actions agree
    agree = np.zeros((2, 2, 2))
    agree[0, 0, 0] = agree[1, 1, 1] = 1.0
    p = np.stack([agree] * 3)
    assert gt.joint_actions(gt.pure_nash_equilibria(p)) == [(0, 0, 0), (1, 1, 1)]
    s = (jnp.array([0.5, 0.5]), jnp.array([1.0, 0.0]), jnp.array([0.25, 0.75]))
    # agent 1 playing a: needs agents 0 and 2 on a (0.5 * 0.25) ; b needs both on b (0.5 * 0.75)
    np.testing.assert_allclose(gt.action_values(p, s, 1), [0.125, 0.375], rtol=1e-6)
    np.testing.assert_allclose(gt.expected_payoffs(p, s), [0.125] * 3, rtol=1e-6)


def test_nash_conv_known_values():
    p = payoff_table("rock_paper_scissors")
    assert abs(float(gt.nash_conv(p, gt.uniform_profile(p)))) < 1e-6
    rock = jnp.array([1.0, 0.0, 0.0])
    # both play rock: each gains 1 by switching to paper
    assert float(gt.nash_conv(p, (rock, rock))) == pytest.approx(2.0)
    assert float(gt.exploitability(p, (rock, rock))) == pytest.approx(1.0)
    pd = payoff_table("prisoners_dilemma")
    coop, defect = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    assert float(gt.nash_conv(pd, (defect, defect))) == pytest.approx(0.0)
    assert float(gt.nash_conv(pd, (coop, coop))) == pytest.approx(4.0)  # 5 - 3 each
    # matching pennies: the unique equilibrium is uniform
    mp = payoff_table("matching_pennies")
    assert float(gt.nash_conv(mp, gt.uniform_profile(mp))) == pytest.approx(0.0, abs=1e-6)
    assert float(gt.nash_conv(mp, (jnp.array([0.7, 0.3]), jnp.array([0.5, 0.5])))) > 0.3


def test_fictitious_play_converges_to_uniform_in_rps():
    p = payoff_table("rock_paper_scissors")
    start = (jnp.array([0.8, 0.1, 0.1]), jnp.array([0.1, 0.1, 0.8]))
    out = fictitious_play(p, 2000, start)
    conv = np.asarray(out.nash_conv)
    assert conv[-1] < 0.05 and conv[-1] < conv[10] / 5
    for s in out.strategies:
        np.testing.assert_allclose(s, np.full(3, 1 / 3), atol=0.03)
        assert float(s.sum()) == pytest.approx(1.0, abs=1e-5)


def test_replicator_time_average_near_uniform_in_rps_and_pure_ne_in_stag_hunt():
    p = payoff_table("rock_paper_scissors")
    start = (jnp.array([0.6, 0.3, 0.1]), jnp.array([0.2, 0.3, 0.5]))
    out = replicator(p, 2000, 0.05, start)
    assert float(gt.nash_conv(p, out.average)) < 0.05
    assert float(out.nash_conv[-1]) > 0.2  # the profile itself keeps cycling
    sh = payoff_table("stag_hunt")
    # trusting the other to hunt stag (70%) leads both to the payoff-dominant equilibrium
    trust = (jnp.array([0.7, 0.3]), jnp.array([0.7, 0.3]))
    out = replicator(sh, 2000, 0.05, trust)
    np.testing.assert_allclose(out.strategies[0], [1.0, 0.0], atol=1e-3)
    assert float(out.nash_conv[-1]) < 1e-3
    # from uniform, the risk-dominant (hare, hare)
    out = replicator(sh, 2000, 0.05, None)
    np.testing.assert_allclose(out.strategies[1], [0.0, 1.0], atol=1e-3)


def test_fictitious_play_is_jittable_under_vmap_over_games():
    games = jnp.stack([payoff_table("matching_pennies"), -payoff_table("matching_pennies")])
    run = jax.jit(jax.vmap(functools.partial(gt.fictitious_play, num_iters=500)))
    out = run(games)
    assert out.nash_conv.shape == (2, 500)
    conv = np.asarray(out.nash_conv)
    assert np.all(conv[:, -1] < 0.1) and np.all(conv[:, -1] < conv[:, 5] / 4)


def test_bad_shape_is_rejected():
    with pytest.raises(ValueError, match="num_agents"):
        gt.pure_nash_equilibria(np.zeros((3, 2, 2)))
