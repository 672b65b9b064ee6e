"""AlphaZero-style self-play (``alphazero``): tic-tac-toe judged exhaustively, connect four
(pgx) against a random and a one-ply lookahead player.

Tic-tac-toe (``--game tictactoe``): trains every seed of ``--seeds`` (fixed keys
``jax.random.key(s)``, default 0..7 and 100..107, nobody's pick) at once with the
``tictactoe`` preset, then judges each seed's network alone (greedy) and with search at play
time (``--play-sims``) over every line of play
(:func:`jaxmarl_lite.envs.tictactoe_minimax.exhaustive_eval`): in each seat, the lines lost
against every legal reply and against every optimal reply, and the probability of losing
to minimax choosing uniformly among its optimal moves. Targets: search, 0 lost lines in both
seats on every seed; network alone, on at least 6 of 8.

Connect four (``--game connect_four``, ``pip install "jaxmarl-lite[pgx]"``): trains the
seeds with the ``connect_four`` preset, then plays ``--games`` games per opponent (half per
seat) against a uniformly random player and the one-ply lookahead player (wins at once where
it can), network alone and with search, each seed's untrained network beside it. Targets:
>= 99% wins against random and >= 90% against the lookahead, in both seats.
``--curve-every N`` keeps the parameters every ``N`` updates and judges the search on them
too, for the search's curve beside the network's.

    python benchmarks/selfplay_search.py --game tictactoe
    python benchmarks/selfplay_search.py --game connect_four --seeds 0-7 --play-depth 3
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxmarl_lite import parallel  # noqa: E402

parallel.use_cpu_devices()  # before JAX starts: seeds split over every core

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench_utils import (EXHAUSTIVE_HEADER, RESULTS, exhaustive_cells, machine_info,  # noqa: E402
                         markdown_table, parse_seeds, placement_label, results_name,
                         write_result)

import jaxmarl_lite as jl  # noqa: E402
from jaxmarl_lite import selfplay  # noqa: E402
from jaxmarl_lite.algorithms import alphazero as az  # noqa: E402
from jaxmarl_lite.algorithms._common.training import init_seeds  # noqa: E402
from jaxmarl_lite.plotting import plot_curves  # noqa: E402


def train(cfg, env, seeds, every=0):
    """Every seed trained at once; with ``every > 0`` in chunks of ``every`` updates (the
    same updates, compiled per chunk size), keeping the parameters after each chunk."""
    stages = az.make_stages(cfg, env)
    keys = jax.numpy.stack([jax.random.key(s) for s in seeds])
    placement = parallel.make_placement(len(seeds))
    n = stages.num_updates
    chunks = [every] * (n // every) + [n % every] * (n % every > 0) if every else [n]
    t0 = time.perf_counter()
    carry = parallel.place(init_seeds(stages, keys), placement)
    compiled = {k: parallel.compile_updates(stages, carry, k, placement) for k in set(chunks)}
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics, snapshots = [], []
    for k in chunks:
        out = jax.block_until_ready(compiled[k](carry))
        carry = out.carry
        metrics.append(out.metrics)
        snapshots.append(jax.device_get(carry.params))
    metrics = {m: np.concatenate([np.asarray(x[m]) for x in metrics], axis=1)
               for m in metrics[0]}
    snapshots = dict(updates=np.cumsum(chunks).tolist(), params=snapshots) if every else None
    return (stages, jax.device_get(carry.params), metrics, snapshots,
            compile_s, time.perf_counter() - t0, placement)


def play_seeds(env, player, opponent, param_sets, seeds, games, placement):
    """``play_games`` for every seed of each parameter set in ``param_sets`` (``[S, ...]``
    leaves each; one compiled judge for all), seed by seed, round robin over the devices:
    the calls return at once, so the devices play side by side (4x faster here than one
    program vmapped over the seeds, whose game loops run to the slowest seed on each
    device). Game keys ``1000 + seed``. Returns, per set, one ``MatchResult`` per seed."""
    devices = placement.mesh.devices.flatten()
    judge = jax.jit(lambda p, k: selfplay.play_games(env, player, p, opponent, (), k, games,
                                                     max(1, games // 8)))
    on = lambda i, x: jax.device_put(x, devices[i % len(devices)])  # noqa: E731
    return jax.device_get([[judge(on(i, jax.tree.map(lambda x: x[i], params)),
                                  on(i, jax.random.key(1000 + s))) for i, s in enumerate(seeds)]
                           for params in param_sets])


def tictactoe(args, cfg, env, seeds, stages, trained, placement):
    from jaxmarl_lite.envs.tictactoe_minimax import exhaustive_eval, policy_moves

    plays = [(0, "network alone")] + [(s, f"search, {s} simulations") for s in args.play_sims]
    rows, record, solved = [], [], {}
    untrained = stages.init(jax.random.key(seeds[0])).params
    for sims, label in plays:
        policy = az.make_policy(cfg, env, sims)
        moves = policy_moves(policy, untrained, jax.random.key(0))
        rows.append(["untrained", label] + exhaustive_cells(exhaustive_eval(moves)) + ["-"])
        solved[label] = 0
        for i, seed in enumerate(seeds):
            params = jax.tree.map(lambda x: x[i], trained)
            lines = exhaustive_eval(policy_moves(policy, params, jax.random.key(0)))
            zero = all(s.lost_any == 0 for s in lines)
            solved[label] += zero
            rows.append([f"key {seed}", label] + exhaustive_cells(lines)
                        + ["yes" if zero else "no"])
            record.append(dict(seed=seed, play=label, simulations=sims,
                               seats=[s._asdict() for s in lines], no_lost_line=zero))
    header = ["policy", "play"] + EXHAUSTIVE_HEADER + ["0 lost lines"]
    summary = ", ".join(f"**{label}: {n}/{len(seeds)}**" for label, n in solved.items())
    return header, rows, record, f"Seeds with 0 lost lines in both seats: {summary}."


def connect_four(args, cfg, env, seeds, stages, trained, placement):
    depth = "" if args.play_depth is None else f", decisive depth {args.play_depth}"
    plays = [(0, "network alone")] + [(s, f"search, {s} simulations{depth}")
                                      for s in args.play_sims]
    opponents = [("random", selfplay.random_player),
                 ("lookahead", selfplay.lookahead_player(env))]
    # The baseline: each seed's untrained network (the training run's initial parameters)
    # with the same search; the decisive search alone already wins most games.
    untrained = init_seeds(stages, jax.numpy.stack([jax.random.key(s) for s in seeds])).params
    rows, record, met, base = [], [], {}, {}
    for sims, label in plays:
        player = az.make_player(args.play_config if sims else cfg, env, sims)
        met[label] = base[label] = 0
        by_opponent = {name: play_seeds(env, player, opp, (untrained, trained), seeds,
                                        args.games, placement) for name, opp in opponents}
        for k, kind in enumerate(("untrained", "trained")):
            results = {name: sets[k] for name, sets in by_opponent.items()}
            for i, seed in enumerate(seeds):
                cells, entry = [], dict(seed=seed, play=label, simulations=sims, params=kind)
                ok = True
                for name, _ in opponents:
                    r = results[name][i]
                    half = args.games // 2
                    rates = [float(r.wins[s]) / (half if s == 0 else args.games - half)
                             for s in (0, 1)]
                    target = 0.99 if name == "random" else 0.90
                    ok &= min(rates) >= target
                    cells += [f"{100 * rates[0]:.1f}%", f"{100 * rates[1]:.1f}%"]
                    entry[name] = dict(wins=r.wins.tolist(), draws=r.draws.tolist(),
                                       losses=r.losses.tolist())
                (met if kind == "trained" else base)[label] += ok
                rows.append([f"key {seed}" + (" untrained" if kind == "untrained" else ""),
                             label] + cells + ["yes" if ok else "no"])
                record.append(dict(entry, targets_met=ok))
    header = ["policy", "play", "wins vs random as P1", "as P2", "wins vs lookahead as P1",
              "as P2", "targets met"]
    summary = ", ".join(f"**{label}: {n}/{len(seeds)}**" for label, n in met.items())
    baseline = ", ".join(f"{label}: {n}/{len(seeds)}" for label, n in base.items())
    return header, rows, record, (f"Seeds meeting both targets in both seats: {summary}; "
                                  f"their untrained networks with the same play: {baseline}.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--game", choices=("tictactoe", "connect_four"), default="tictactoe")
    parser.add_argument("--seeds", default=None,
                        help="keys, e.g. 0-7,100-107 (default; with --load-params: the file's)")
    parser.add_argument("--steps", type=int, default=None, help="move slots per seed")
    parser.add_argument("--play-sims", type=int, nargs="*", default=None,
                        help="simulations of the search at play time")
    parser.add_argument("--games", type=int, default=1000, help="connect four: per opponent")
    parser.add_argument("--random-opening-moves", type=int, default=None,
                        help="override the preset's random_opening_moves")
    parser.add_argument("--play-depth", type=int, default=None,
                        help="connect four: decisive_depth of the search at play time "
                             "(default: the preset's)")
    parser.add_argument("--save-params", type=Path, default=None,
                        help="write every seed's trained parameters and training metrics here "
                             "(pickle)")
    parser.add_argument("--load-params", type=Path, default=None,
                        help="judge what --save-params wrote (same game and settings) "
                             "instead of training")
    parser.add_argument("--curve-every", type=int, default=None,
                        help="connect four: keep the parameters every N updates and judge "
                             "the search (first --play-sims) at each, --games per opponent, "
                             "for its curve")
    parser.add_argument("--results-name", type=results_name, default=None,
                        help="results file name in benchmarks/results (default "
                             "selfplay_search_<game>)")
    args = parser.parse_args()
    if args.play_depth is not None and args.game != "connect_four":
        parser.error("--play-depth is for --game connect_four")
    if args.load_params is not None and args.save_params is not None:
        parser.error("--load-params judges saved parameters; --save-params is for training")
    if args.load_params is not None and not args.load_params.is_file():
        parser.error(f"--load-params: no file {args.load_params}")
    if args.load_params is not None and args.seeds is not None:
        parser.error("--seeds: the seeds of --load-params are the file's")
    if args.curve_every is not None and (args.game != "connect_four" or args.curve_every < 1
                                         or args.load_params is not None):
        parser.error("--curve-every: a number of updates >= 1, for training --game "
                     "connect_four (a --load-params file judges the snapshots it has)")
    args.seeds = "0-7,100-107" if args.seeds is None else args.seeds
    if args.game == "tictactoe":
        env = jl.make("tictactoe")
    else:
        from jaxmarl_lite.interop.pgx import from_pgx

        env = from_pgx("connect_four")
    cfg = az.PRESETS[args.game]
    if args.steps:
        cfg = cfg.replace(total_timesteps=args.steps)
    if args.random_opening_moves is not None:
        cfg = cfg.replace(random_opening_moves=args.random_opening_moves)
    args.play_config = (cfg if args.play_depth is None  # (bad values fail before training)
                        else cfg.replace(decisive_depth=args.play_depth))
    if args.play_sims is None:
        args.play_sims = [cfg.num_simulations]
    if args.load_params is None:
        stages, params, metrics, snapshots, compile_s, run_s, placement = train(
            cfg, env, parse_seeds(args.seeds), args.curve_every or 0)
        saved = dict(game=args.game, config=cfg.to_dict(), seeds=parse_seeds(args.seeds),
                     keys=args.seeds, placement=placement_label(placement), params=params,
                     snapshots=snapshots, compile_s=compile_s, run_s=run_s, metrics=metrics,
                     command=" ".join(["python benchmarks/selfplay_search.py"] + sys.argv[1:]))
        if args.save_params is not None:
            with open(args.save_params, "wb") as f:
                pickle.dump(saved, f)
    else:  # only files this script wrote (pickle runs code from the file)
        with open(args.load_params, "rb") as f:
            saved = pickle.load(f)
        if not isinstance(saved, dict) or (saved.get("game"), saved.get("config")) != (
                args.game, cfg.to_dict()):
            parser.error(f"--load-params: {args.load_params} was not trained with --game "
                         f"{args.game} and these settings (train and load with the same "
                         "--game, --steps and --random-opening-moves)")
        stages = az.make_stages(cfg, env)
        placement = parallel.make_placement(len(saved["seeds"]))
    seeds, metrics = saved["seeds"], saved["metrics"]
    compile_s, run_s = saved["compile_s"], saved["run_s"]
    judge = tictactoe if args.game == "tictactoe" else connect_four
    header, rows, record, summary = judge(args, cfg, env, seeds, stages, saved["params"],
                                          placement)
    moves = metrics["env_steps"][:, -1]
    strong = "minimax" if args.game == "tictactoe" else "lookahead"
    at = np.flatnonzero(np.isfinite(metrics["eval_loss_random"][0]))  # evaluation updates
    curves = {f"loss rate vs {strong} (network alone)": (metrics["env_steps"][0, at],
                                                         metrics[f"eval_loss_{strong}"][:, at]),
              "loss rate vs random (network alone)": (metrics["env_steps"][0, at],
                                                      metrics["eval_loss_random"][:, at])}
    about, search_curve = "greedy network games during training", None
    snapshots = saved.get("snapshots")
    if snapshots:  # the search at play time, judged on the parameters kept during training
        sims = next((s for s in args.play_sims if s), cfg.num_simulations)
        player = az.make_player(args.play_config, env, sims)
        updates = np.asarray(snapshots["updates"])
        search_curve = dict(updates=updates.tolist(), simulations=sims, games=args.games,
                            env_steps=metrics["env_steps"][:, updates - 1].tolist())
        for opp_name, opp in (("lookahead", selfplay.lookahead_player(env)),
                              ("random", selfplay.random_player)):
            lost = np.array([[float(r.losses.sum()) / args.games for r in per_seed]
                             for per_seed in play_seeds(env, player, opp, snapshots["params"],
                                                        seeds, args.games, placement)]).T
            search_curve[f"loss_rate_{opp_name}"] = lost.tolist()
            curves[f"loss rate vs {opp_name} (search, {sims} simulations)"] = (
                metrics["env_steps"][0, updates - 1], lost)
        depth = "" if args.play_depth is None else f", decisive depth {args.play_depth}"
        about += (f"; the search ({sims} simulations{depth}) on the parameters after every "
                  f"{updates[0]} updates, {args.games} games per opponent")
    name = args.results_name or f"selfplay_search_{args.game}"
    plot_curves(curves, RESULTS / f"{name}.png", ylabel="share of games lost")
    command = saved["command"]  # the training run's
    if args.load_params is not None:
        command += "`, judged by `python benchmarks/selfplay_search.py " + " ".join(sys.argv[1:])
    text = (f"# AlphaZero-style self-play: {args.game}\n\n" + markdown_table(header, rows)
            + f"\n\n{summary} {len(seeds)} seeds (keys {saved['keys']}) trained at once in "
            f"{run_s:.0f} s after {compile_s:.0f} s of compilation ({saved['placement']}); "
            f"{int(moves.mean()):,} self-play moves per seed (min {int(moves.min()):,}), "
            f"{cfg.num_simulations} simulations per move ({cfg.search} search), "
            f"{stages.num_updates} updates. Preset `{args.game}`: {cfg.num_envs} games per "
            f"update, network {cfg.num_layers} x {cfg.hidden_size}, {cfg.sgd_steps} SGD steps "
            f"of {cfg.batch_size} per update from the last {cfg.replay_updates} updates' "
            f"positions, symmetry augmentation {cfg.augment_symmetries}. Curves: `{name}.png` "
            f"({about}; mean and 95% CI over seeds).\n\n"
            f"Reproduce: `{command}`\n")
    write_result(name, dict(machine=machine_info(("jax", "jaxlib", "flax", "optax", "mctx",
                                                  "pgx", "numpy")),
                            seeds=seeds, compile_seconds=compile_s, run_seconds=run_s,
                            moves_per_seed=moves.tolist(), config=cfg.to_dict(),
                            results=record, search_curve=search_curve), text)
    print(text)


if __name__ == "__main__":
    main()
