"""Tic-tac-toe by self-play, judged against a perfect (minimax) player: AlphaZero-style search
on the game's own rules trains a policy/value network; the network alone and the network with
search then play minimax from both seats, and the network is judged over every line of play.

    python examples/tictactoe_vs_minimax.py          # ~5 min on 2 CPU cores
    python examples/tictactoe_vs_minimax.py --tiny   # a smoke run (what CI runs)
"""
import argparse

import jax

import jaxmarl_lite as jl
from jaxmarl_lite.algorithms import alphazero
from jaxmarl_lite.envs.tictactoe_minimax import (exhaustive_eval, minimax_policy, play_matches,
                                                 policy_moves)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a few updates only (CI)")
    args = parser.parse_args()
    env = jl.make("tictactoe")
    config = alphazero.PRESETS["quick" if args.tiny else "tictactoe"]
    if args.tiny:
        config = config.replace(total_timesteps=3 * config.num_envs * env.max_episode_steps)
    out = jax.jit(alphazero.make_train(config, env))(jax.random.key(0))
    params = out.carry.params
    for label, sims in (("network alone", 0), ("network + 32-simulation search", 32)):
        policy = alphazero.make_policy(config, env, num_simulations=sims)
        match = play_matches(policy, params, jax.random.key(1), 100, "minimax")
        print(f"{label} vs minimax, 100 games (50 per seat): {match.totals()}")
    # every line of play: can minimax (or any opponent) force a win against the network?
    first, second = exhaustive_eval(policy_moves(alphazero.make_policy(config, env, 0), params,
                                                 jax.random.key(2)))
    for seat, lines in (("player_1", first), ("player_2", second)):
        print(f"as {seat}: lost lines {lines.lost_any}/{lines.lines_any} against any reply, "
              f"{lines.lost_optimal}/{lines.lines_optimal} against optimal replies, "
              f"P(loss vs uniform-optimal minimax) {lines.loss_prob_minimax:.3f}")
    # minimax is a Policy too: it never loses a line, the reference for the numbers above
    perfect = exhaustive_eval(policy_moves(minimax_policy(deterministic=True), None,
                                           jax.random.key(3)))
    print("minimax itself, lost lines per seat:", [s.lost_any for s in perfect])


if __name__ == "__main__":
    main()
