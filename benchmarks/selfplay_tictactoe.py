"""Tic-tac-toe by self-play PPO, judged against a random and a perfect (minimax) player.

Trains ``--seeds`` seeds at once (vmap) with the ``tictactoe`` preset of
``jaxmarl_lite.algorithms.selfplay_ppo`` (opponents: the current policy, past snapshots from
the opponent pool, or a uniformly random player), then plays each seed's greedy policy
``--games-random`` games against a uniformly random player and ``--games-minimax`` games
against minimax (random among optimal moves), half in each seat, twice: playing the actor's
most likely move, and searching ``--lookahead`` plies ahead with the learned critic at the
leaves (``make_policy(..., lookahead=d)``; the untrained network with the same search is the
baseline that shows what the search alone does). Targets: no loss against random in 1000
games, at least 90% draws against minimax. Each policy is also judged over every line of play
(:func:`jaxmarl_lite.envs.tictactoe_minimax.exhaustive_eval`): in each seat, the lines lost
against every legal reply and against every optimal reply, and the probability of losing to
minimax choosing uniformly among its optimal moves (sampled games can miss a losing line).
Seeds are the fixed keys ``jax.random.key(s)`` of ``--seeds`` (default 0..7), split over
every CPU core.

    python benchmarks/selfplay_tictactoe.py --seeds 0-7
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402

parallel.use_cpu_devices()  # before JAX starts: seeds split over every core

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench_utils import (EXHAUSTIVE_HEADER, RESULTS, exhaustive_cells,  # noqa: E402
                         markdown_table, parse_seeds, write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite.algorithms import selfplay_ppo  # noqa: E402
from jaxmarl_lite.envs.tictactoe_minimax import (exhaustive_eval, play_matches,  # noqa: E402
                                                 policy_moves)
from jaxmarl_lite.plotting import plot_curves  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0-7", help="keys, e.g. 0-7,100-107")
    parser.add_argument("--steps", type=int, default=None, help="learner decisions per seed")
    parser.add_argument("--preset", default="tictactoe",
                        choices=[p for p in selfplay_ppo.PRESETS if p.startswith("tictactoe")],
                        help="self-play PPO preset (results of another than tictactoe go to "
                             "selfplay_tictactoe_<preset>.*)")
    parser.add_argument("--games-random", type=int, default=1000)
    parser.add_argument("--games-minimax", type=int, default=1000)
    parser.add_argument("--lookahead", type=int, default=3,
                        help="plies searched by the second way of playing (0: greedy only; "
                             "from 4 plies the untrained network alone meets the targets)")
    args = parser.parse_args()
    env = jl.make("tictactoe")
    cfg = selfplay_ppo.PRESETS[args.preset]
    results_name = "selfplay_tictactoe" + ("" if args.preset == "tictactoe" else f"_{args.preset}")
    if args.steps:
        cfg = cfg.replace(total_timesteps=args.steps)
    stages = selfplay_ppo.make_stages(cfg, env)
    seeds = parse_seeds(args.seeds)
    keys = jax.numpy.stack([jax.random.key(s) for s in seeds])
    t0 = time.perf_counter()
    out = jax.block_until_ready(parallel.train(stages, keys))
    seconds = time.perf_counter() - t0
    plays = [("greedy", selfplay_ppo.make_policy(cfg, env))]
    if args.lookahead:
        plays.append((f"{args.lookahead}-ply search",
                      selfplay_ppo.make_policy(cfg, env, lookahead=args.lookahead)))
    rows, record = [], []
    untrained = stages.init(jax.random.key(0)).params
    candidates = [("untrained", untrained)] + [
        (f"key {s}", jax.tree.map(lambda x: x[i], out.carry.params)) for i, s in enumerate(seeds)]
    for play, policy in plays:
        for name, params in candidates:
            vs_random = play_matches(policy, params, jax.random.key(1), args.games_random, "random")
            vs_minimax = play_matches(policy, params, jax.random.key(2), args.games_minimax,
                                      "minimax")
            r, m = vs_random.totals(), vs_minimax.totals()
            draw_share = m["draws"] / args.games_minimax
            ok = r["losses"] == 0 and draw_share >= 0.9
            lines = exhaustive_eval(policy_moves(policy, params, jax.random.key(0)))
            zero = all(s.lost_any == 0 for s in lines)
            record.append(dict(name=name, play=play, random=r, minimax=m, random_by_seat=[
                np.asarray(x).tolist() for x in vs_random], minimax_by_seat=[
                np.asarray(x).tolist() for x in vs_minimax], targets_met=bool(ok),
                seats=[s._asdict() for s in lines], no_lost_line=zero))
            trained = name != "untrained"
            rows.append([name, play] + exhaustive_cells(lines)
                        + ["yes" if zero else "no" if trained else "-",
                           f"{r['wins']}/{r['draws']}/{r['losses']}",
                           f"{m['wins']}/{m['draws']}/{m['losses']}", f"{draw_share:.1%}",
                           "yes" if ok else ("no" if trained else "-")])
            print(rows[-1], flush=True)
    met = {play: sum(r["targets_met"] for r in record if r["play"] == play and
                     r["name"] != "untrained") for play, _ in plays}
    solved = {play: sum(r["no_lost_line"] for r in record if r["play"] == play and
                        r["name"] != "untrained") for play, _ in plays}
    curves = {"greedy vs random: wins - losses": (
        np.asarray(out.metrics["env_steps"][0]), np.asarray(out.metrics["eval_return"])),
        "greedy vs minimax: draws": (np.asarray(out.metrics["env_steps"][0]),
                                     np.asarray(out.metrics["eval_draw_minimax"]))}
    if "exploiter_win_rate" in out.metrics:  # its games against the learner, in training
        curves["exploiter's wins against the learner"] = (
            np.asarray(out.metrics["env_steps"][0]), np.asarray(out.metrics["exploiter_win_rate"]))
    plot_curves(curves, RESULTS / f"{results_name}.png", ylabel="share of games",
                title=f"tic-tac-toe self-play PPO ({len(seeds)} seeds)")
    table = markdown_table(["policy", "play"] + EXHAUSTIVE_HEADER + [
                            "0 lost lines", f"vs random W/D/L ({args.games_random} games)",
                            f"vs minimax W/D/L ({args.games_minimax} games)",
                            "draws vs minimax", "targets met"], rows)
    restarts = (f" (restarted every {cfg.exploiter_reset_every} updates)"
                if cfg.exploiter_reset_every else "")
    md = (f"# Tic-tac-toe self-play (PPO)\n\n{table}\n\n"
          "Judged over every line of play, seeds with 0 lost lines in both seats: "
          + ", ".join(f"**{play}: {n}/{len(seeds)}**" for play, n in solved.items()) +
          ". Judged by sampled games, seeds that meet both targets (no loss in "
          f"{args.games_random} games against random, "
          f">= 90% draws against minimax): "
          + ", ".join(f"**{play}: {n}/{len(seeds)}**" for play, n in met.items()) +
          f". {len(seeds)} seeds (keys {args.seeds}) x "
          f"{cfg.total_timesteps:,} learner decisions, trained at once in {seconds:.0f} s "
          f"(compile included); half of the games in each seat. Play \"greedy\": the actor's "
          f"most likely move; \"d-ply search\": negamax over the next d moves with the "
          f"critic's value at the leaves, ties to the actor's preference. Preset "
          f"`{args.preset}`: {cfg.num_envs} envs x {cfg.num_steps} decisions per update, pool of "
          f"{cfg.pool_size} snapshots every {cfg.snapshot_every} updates, random-opponent share "
          f"{cfg.random_opponent_prob}, then self-play share {cfg.self_play_prob}, hidden "
          f"{cfg.hidden_size}, entropy {cfg.ent_coef}"
          f"{'' if cfg.ent_coef_final is None else f' annealed linearly to {cfg.ent_coef_final}'}"
          f", canonical boards "
          f"{cfg.canonical_boards}, random opponent moves {cfg.opponent_random_move_prob}, "
          f"exploiter share {cfg.exploiter_prob}{restarts}. Curves: `{results_name}.png`.\n\n"
          f"Reproduce: `{' '.join(['python benchmarks/selfplay_tictactoe.py'] + sys.argv[1:])}`\n")
    print(md)
    write_result(results_name, dict(seeds=seeds, seconds=seconds, lookahead=args.lookahead,
                            config=cfg.to_dict(), results=record), md)


if __name__ == "__main__":
    main()
