"""Our algorithms learning on peers' envs through the interop adapters.

Every run trains ``--seeds`` seeds at once (``jax.jit(jax.vmap(train))``) from keys fixed in
advance, ``jax.random.split(jax.random.key(0), seeds)``; every seed's final greedy return
(the algorithm's own ``eval_return`` after its last update) is reported, with the mean and
a 95% t-interval over seeds, beside a uniformly random legal policy (mean and 95%
t-interval over episodes).

``--part jaxmarl`` (:func:`jaxmarl_lite.interop.jaxmarl.from_jaxmarl`): JaxMARL's SMAX
``3m`` (``HeuristicEnemySMAX``) and Overcooked ``cramped_room``, MAPPO (feed-forward) and
QMIX. Overcooked's reward is sparse (20 per delivered soup, shared); its ``shaped_reward``
(per agent, onion/dish/soup pick-ups, ``info["shaped_reward"]`` through the adapter) is
added to the reward during training (``--oc-shaping``, constant, unlike JaxMARL's annealed
schedule). ``eval_return`` then counts both; the final policies are also evaluated on the
sparse reward alone. QMIX reads SMAX's unnormalised world state (values up to ~25) in its
mixer; with the usual mixer initialisation its Q-values diverge at these budgets, so QMIX
runs there with ``mixer_init_scale=1e-3`` (JaxMARL's; ``--smax-qmix-mixer-init-scale none``
reproduces the divergence). On Overcooked it keeps the usual initialisation
(``--oc-qmix-mixer-init-scale``): at 1e-3 the mixer's Q-values collapsed to ~1 on 2 of 4
seeds. Greedy play can stall where the trained behaviour does not (two cooks blocking each
other forever), so the final policies are also evaluated as trained: MAPPO's sampled
policy, QMIX epsilon-greedy at its final ``eps_finish``. QMIX's budget is
``num_updates * num_envs * max_episode_steps`` (whole episode slots); the env steps it
actually took are reported beside it.

``--part pettingzoo`` (:func:`jaxmarl_lite.interop.pettingzoo.from_pettingzoo`): mpe2's
``simple_spread_v3`` (discrete, ``max_cycles=25``) through the adapter against our native
``simple_spread``, MAPPO feed-forward with the same config and keys: final greedy returns
(which should agree within their intervals) and training throughput of each (env steps per
second of the compiled loop, compile excluded). Then one short MAPPO run on PettingZoo's
``knights_archers_zombies`` (vector observations) and one on ``pistonball_v6`` (20 pistons,
image observations: :func:`pistonball_factory` preprocesses them with SuperSuit, and MAPPO
reads them through its CNN torso, ``obs_image_shape``) through the adapter.

    python benchmarks/interop_learning.py --part jaxmarl
    python benchmarks/interop_learning.py --part pettingzoo
    python benchmarks/interop_learning.py --part jaxmarl --scale 0.1   # a quick smoke run

Writes ``results/interop_<part>.{json,md}`` (rewritten after every run); a run with any
option other than ``--part`` at a non-default value (``--scale`` multiplies every budget;
``--tasks``/``--algos`` pick runs) writes ``interop_<part>_custom`` instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_utils import markdown_table, write_result  # noqa: E402

from jaxmarl_lite.algorithms import get  # noqa: E402
from jaxmarl_lite.algorithms._common.evaluation import evaluate, random_policy  # noqa: E402
from jaxmarl_lite.stats import mean_ci  # noqa: E402

KEYS = "jax.random.split(jax.random.key(0), seeds)"


def fmt(mean, half, digits=2):
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def random_stats(env, episodes: int) -> dict:
    """Uniformly random legal actions: mean team return and its 95% CI over episodes."""
    t0 = time.perf_counter()
    res = jax.jit(lambda k: evaluate(env, random_policy(env), None, k, episodes))(
        jax.random.key(2))
    ret = np.asarray(res.team_return, np.float64)
    mean, half = mean_ci(ret)
    return dict(mean=float(mean), ci95=float(half), episodes=episodes,
                mean_length=float(np.mean(res.length)), seconds=time.perf_counter() - t0)


def train(algo: str, cfg, env, seeds: int):
    """``(out, compile_s, run_s)`` of ``jax.jit(jax.vmap(make_train(cfg, env)))(keys)``."""
    keys = jax.random.split(jax.random.key(0), seeds)
    fn = jax.jit(jax.vmap(get(algo).make_train(cfg, env)))
    t0 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    return out, compile_s, time.perf_counter() - t0


def behaviour_policy(algo: str, cfg, env):
    """The policy as trained: PPO's sampled actions, Q-learning's epsilon-greedy at the
    training's final epsilon."""
    if algo in ("mappo", "ippo"):
        return get(algo).make_policy(cfg, env, sample=True)
    return get(algo).make_policy(cfg, env, epsilon=cfg.eps_finish)


def final_eval(algo: str, cfg, env, params, episodes: int, sample: bool = False) -> np.ndarray:
    """Each seed's greedy (``sample``: :func:`behaviour_policy`) policy on ``env`` over
    ``episodes`` episodes -> ``[seeds]``."""
    policy = (behaviour_policy(algo, cfg, env) if sample
              else get(algo).make_policy(cfg, env))
    seeds = jax.tree.leaves(params)[0].shape[0]
    res = jax.jit(jax.vmap(lambda p, k: evaluate(env, policy, p, k, episodes)))(
        params, jax.random.split(jax.random.key(1), seeds))
    return np.asarray(res.team_return, np.float64).mean(-1)


def record_final_eval(label: str, algo: str, cfg, env, params, sample: bool) -> dict:
    """:func:`final_eval` over ``cfg.eval_episodes`` episodes as a JSON record (per seed,
    mean, 95% CI), printed under ``label``."""
    vals = final_eval(algo, cfg, env, params, cfg.eval_episodes, sample)
    m, h = mean_ci(vals)
    print(f"  {label}: {np.round(vals, 3)} -> {fmt(m, h, 3)}", flush=True)
    return dict(final=vals.tolist(), mean=float(m), ci95=float(h), episodes=cfg.eval_episodes)


def record_run(algo, cfg, env, seeds, budget_note="") -> tuple:
    """Train, and the JSON record of the run (per-seed finals, CI, timing, curve)."""
    out, compile_s, run_s = train(algo, cfg, env, seeds)
    m = jax.device_get(out.metrics)
    final = np.asarray(m["eval_return"][:, -1], np.float64)
    mean, half = mean_ci(final)
    env_steps = np.asarray(m["env_steps"][:, -1], np.float64)
    rec = dict(
        algo=algo, config=cfg.to_dict(), budget=cfg.total_timesteps, budget_note=budget_note,
        env_steps_taken=env_steps.tolist(), final=final.tolist(), mean=float(mean),
        ci95=float(half), compile_s=compile_s, run_s=run_s,
        env_steps_per_s=float(env_steps.sum() / run_s),
        finite=bool(np.all(np.isfinite(final))),
        train_return=np.asarray(m["episode_return"][:, -1], np.float64).tolist(),
        curve=dict(env_steps=np.asarray(m["env_steps"][0]).tolist(),
                   eval_return=np.asarray(m["eval_return"]).tolist()))
    if "q_mean" in m:  # Q-values' scale shows divergence
        rec["final_q_mean"] = np.asarray(m["q_mean"][:, -1]).tolist()
    for name in ("loss", "critic_loss"):
        if name in m:
            rec[f"final_{name}"] = np.asarray(m[name][:, -1]).tolist()
    print(f"{algo} on {type(env).__name__}: final {np.round(final, 3)} -> {fmt(mean, half, 3)}; "
          f"compile {compile_s:.0f} s, run {run_s:.0f} s", flush=True)
    return out, rec


def init_scale(text: str):
    """``--*-mixer-init-scale``: ``none`` (the usual initialisation) or a positive float."""
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive float or 'none', got {text!r}")
    return value


def scaled(steps: float, scale: float) -> int:
    return max(1, int(steps * scale))


# ================================================================ part: JaxMARL
def jaxmarl_envs(shaping: float):
    import jaxmarl
    from jaxmarl.environments.overcooked import overcooked_layouts
    from jaxmarl.environments.smax import map_name_to_scenario

    from jaxmarl_lite.interop.jaxmarl import FromJaxMARL, from_jaxmarl

    @dataclasses.dataclass(frozen=True, eq=False)
    class ShapedOvercooked(FromJaxMARL):
        """Overcooked with ``shaping * info["shaped_reward"]`` added to each agent's reward."""

        shaping: float = 1.0

        def step_env(self, key, state, actions):
            obs, state, reward, term, trunc, info = super().step_env(key, state, actions)
            return obs, state, reward + self.shaping * info["shaped_reward"], term, trunc, info

    smax = from_jaxmarl(jaxmarl.make("HeuristicEnemySMAX", scenario=map_name_to_scenario("3m")))
    oc_jm = jaxmarl.make("overcooked", layout=overcooked_layouts["cramped_room"])
    oc_sparse = from_jaxmarl(oc_jm)
    oc_shaped = ShapedOvercooked(oc_jm, oc_jm.max_steps, float(shaping))
    return smax, oc_sparse, oc_shaped


def part_jaxmarl(args, record, save):
    mappo, qmix = get("mappo"), get("qmix")
    smax, oc_sparse, oc_shaped = jaxmarl_envs(args.oc_shaping)
    s = args.scale

    def ppo_cfg(steps, **kw):
        cfg = mappo.Config(recurrent=False, total_timesteps=steps, **kw)
        updates = steps // (cfg.num_envs * cfg.num_steps)
        return cfg.replace(eval_every=max(1, updates // 10))

    def qmix_cfg(steps, horizon, **kw):
        cfg = qmix.Config(total_timesteps=steps, **kw)
        updates = steps // (cfg.num_envs * horizon)
        return cfg.replace(eval_every=max(1, updates // 10))

    tasks = {
        "smax_3m": dict(
            env=smax, train_env=smax,
            desc="JaxMARL HeuristicEnemySMAX, scenario 3m (3 marines vs 3 heuristic marines), "
                 "100-step limit; reward: enemy health removed (normalised) + 1 for a win",
            runs={"mappo": ppo_cfg(scaled(args.smax_mappo_steps, s), num_envs=32, num_steps=128,
                                   update_epochs=4, num_minibatches=4, lr=5e-4,
                                   eval_episodes=128),
                  "qmix": qmix_cfg(scaled(args.smax_qmix_steps, s), smax.max_episode_steps,
                                   num_envs=8, buffer_size=1000, batch_size=32,
                                   num_sgd_steps=2, lr=3e-3, learning_starts=1000,
                                   target_update_interval=10, eps_decay_fraction=0.05,
                                   eval_episodes=128,
                                   mixer_init_scale=args.smax_qmix_mixer_init_scale)}),
        "overcooked_cramped_room": dict(
            env=oc_sparse, train_env=oc_shaped,
            desc="JaxMARL Overcooked, layout cramped_room, 400-step episodes; trained on "
                 f"sparse + {args.oc_shaping:g} x shaped reward",
            runs={"mappo": ppo_cfg(scaled(args.oc_mappo_steps, s), num_envs=32, num_steps=128,
                                   update_epochs=4, num_minibatches=4, lr=5e-4,
                                   eval_episodes=64),
                  # feed-forward agents (the observation is the whole kitchen), Q(lambda)
                  # targets to carry the sparse soup reward back over 400-step episodes
                  "qmix": qmix_cfg(scaled(args.oc_qmix_steps, s), oc_shaped.max_episode_steps,
                                   num_envs=8, buffer_size=100, batch_size=16,
                                   recurrent=False, td_lambda=0.6, num_sgd_steps=4,
                                   lr=5e-4, learning_starts=3200, target_update_interval=5,
                                   eps_decay_fraction=0.5, eval_episodes=64,
                                   mixer_init_scale=args.oc_qmix_mixer_init_scale)}),
    }
    for name, task in tasks.items():
        if args.tasks and name not in args.tasks:
            continue
        env, train_env = task["env"], task["train_env"]
        entry = record.setdefault(name, dict(description=task["desc"]))
        entry["random"] = random_stats(train_env, args.random_episodes)
        if train_env is not env:
            entry["random_sparse"] = random_stats(env, args.random_episodes)
        for algo, cfg in task["runs"].items():
            if args.algos and algo not in args.algos:
                continue
            note = ("whole episode slots: num_updates x num_envs x max_episode_steps"
                    if algo == "qmix" else "")
            out, rec = record_run(algo, cfg, train_env, args.seeds, note)
            # shaped training: the final policies on the sparse reward too; the trained
            # behaviour policy (MAPPO sampled, QMIX epsilon-greedy) as well, where greedy
            # play may stall
            evals = [("final_sparse", env, False)] if train_env is not env else []
            evals.append(("final_sampled", train_env, True))
            if train_env is not env:
                evals.append(("final_sampled_sparse", env, True))
            for label, e, sample in evals:
                rec[label] = record_final_eval(label, algo, cfg, e, out.carry.params, sample)
            entry[algo] = rec
            save()


def render_jaxmarl(args, record) -> str:
    rows = []
    for name, entry in record.items():
        rand = entry["random"]
        for algo in ("mappo", "qmix"):
            if algo not in entry:
                continue
            r = entry[algo]
            taken = np.mean(r["env_steps_taken"])
            budget = (f"{r['budget']:,}" if algo == "mappo" else
                      f"{r['budget']:,} slots ({taken:,.0f} steps taken)")
            rows.append([name, algo, budget, ", ".join(f"{x:.2f}" for x in r["final"]),
                         f"**{fmt(r['mean'], r['ci95'])}**", fmt(rand["mean"], rand["ci95"]),
                         ", ".join(f"{x:.2f}" for x in r["train_return"]),
                         f"{r['run_s'] + r['compile_s']:.0f} ({r['compile_s']:.0f})"])
            if "final_sparse" in r:
                fs, rs = r["final_sparse"], entry["random_sparse"]
                rows.append([name + " (sparse reward only)", algo, "same policies",
                             ", ".join(f"{x:.2f}" for x in fs["final"]),
                             f"**{fmt(fs['mean'], fs['ci95'])}**", fmt(rs["mean"], rs["ci95"]),
                             "", ""])
            for key, suffix, rand_key in (("final_sampled", "", "random"),
                                          ("final_sampled_sparse", ", sparse reward only",
                                           "random_sparse")):
                if key in r:
                    fs, rs = r[key], entry[rand_key]
                    kind = ("sampled policy" if algo == "mappo" else
                            f"epsilon-greedy policy, eps {r['config']['eps_finish']:g}")
                    rows.append([f"{name} ({kind}{suffix})", algo, "same policies",
                                 ", ".join(f"{x:.2f}" for x in fs["final"]),
                                 f"**{fmt(fs['mean'], fs['ci95'])}**",
                                 fmt(rs["mean"], rs["ci95"]), "", ""])
    table = markdown_table(
        ["task", "algo", "env steps / seed", "final greedy return per seed (keys 0..N-1)",
         "mean ± 95% CI", "random (± 95% CI)", "last training-rollout return per seed",
         "wall s (compile)"], rows)
    notes = []
    for name, entry in record.items():
        notes.append(f"* `{name}`: {entry['description']}.")
        for algo in ("mappo", "qmix"):
            if algo in entry and "final_q_mean" in entry[algo]:
                q = ", ".join(f"{x:.2f}" for x in entry[algo]["final_q_mean"])
                notes.append(f"  QMIX final mean Q (per seed): {q}; mixer_init_scale "
                             f"{entry[algo]['config']['mixer_init_scale']}.")
    return (f"# Our algorithms on JaxMARL envs through `from_jaxmarl`\n\n{table}\n"
            f"{args.seeds} seeds from `{KEYS}`, trained at once (`jax.jit(jax.vmap(train))`); "
            "final greedy return = the algorithm's own `eval_return` after its last update "
            "(mean team return of the greedy policy over `eval_episodes` episodes: 128 on SMAX, "
            "64 on Overcooked); random = uniformly random legal actions over "
            f"{args.random_episodes} episodes. MAPPO feed-forward (2 x 64 tanh, agent-specific "
            "critic on the global state); QMIX with GRU agents on SMAX, feed-forward agents "
            "and Q(lambda) targets (lambda 0.6) on Overcooked (configs in the JSON). "
            "QMIX's budget counts whole episode slots; SMAX episodes end early (~13 steps "
            "under random play), so it takes fewer env steps than its budget. The "
            "training-rollout column is the return of the episodes that ended in the last "
            "update (MAPPO: sampled actions, QMIX: epsilon-greedy; Overcooked: sparse + shaped "
            "reward); where it is high and the greedy return is not, the argmax policy stalls "
            "where the trained behaviour does not. The sampled-policy rows evaluate MAPPO's "
            "trained stochastic policy (`mappo.make_policy(cfg, env, sample=True)`, each action "
            "drawn from the masked distribution), the epsilon-greedy rows QMIX's behaviour "
            "policy at the training's final epsilon (`qmix.make_policy(cfg, env, "
            "epsilon=cfg.eps_finish)`), over the same number of episodes.\n\n"
            + "\n".join(notes) + "\n\n"
            f"Reproduce: `{args.command}`\n")


# ============================================================ part: PettingZoo
PISTON_IMAGE = (32, 32, 2)  # height, width, stacked grayscale frames


def pistonball_factory(max_cycles: int):
    """``pistonball_v6`` (discrete actions) with each piston's ``[457, 120, 3]`` RGB view
    preprocessed by SuperSuit: grayscale, resized to 32 x 32, the last 2 frames stacked
    (the ball's motion), scaled to [0, 1] float32 -> ``PISTON_IMAGE``."""
    import supersuit as ss
    from pettingzoo.butterfly import pistonball_v6

    def make():
        env = pistonball_v6.parallel_env(continuous=False, max_cycles=max_cycles)
        env = ss.color_reduction_v0(env, "full")
        env = ss.resize_v1(env, PISTON_IMAGE[1], PISTON_IMAGE[0])
        env = ss.frame_stack_v1(env, PISTON_IMAGE[2])
        env = ss.dtype_v0(env, np.float32)
        return ss.normalize_obs_v0(env, env_min=0.0, env_max=1.0)

    return make


def pistonball_state(env) -> np.ndarray:
    """The global state: the ``[560, 880, 3]`` screen (``state()``), grayscale, every 20th
    pixel each way (``[28, 44]``), in [0, 1]."""
    return np.asarray(env.state(), np.float32)[::20, ::20].mean(-1) / 255.0


def part_pistonball(args, record, save):
    from jaxmarl_lite.interop.pettingzoo import from_pettingzoo

    mappo = get("mappo")
    try:
        factory = pistonball_factory(args.pistonball_max_cycles)
        factory()
    except Exception as err:  # noqa: BLE001  (missing butterfly/supersuit deps: report)
        record["pistonball"] = dict(error=f"{type(err).__name__}: {err}")
        save()
        return
    steps, seeds = scaled(args.pistonball_steps, args.scale), args.pistonball_seeds
    cfg = mappo.Config(recurrent=False, total_timesteps=steps, num_envs=4, num_steps=128,
                       update_epochs=4, num_minibatches=2, lr=5e-4, activation="relu",
                       obs_image_shape=PISTON_IMAGE, cnn_channels=(16, 32), eval_episodes=4)
    cfg = cfg.replace(eval_every=max(1, steps // (cfg.num_envs * cfg.num_steps)))
    env = from_pettingzoo(factory, num_envs=seeds * cfg.num_envs, name="pistonball_v6",
                          global_state=pistonball_state)
    entry = dict(random=random_stats(env, args.pistonball_random_episodes),
                 env=f"pistonball_v6.parallel_env(continuous=False, max_cycles="
                     f"{args.pistonball_max_cycles}) + SuperSuit preprocessing", seeds=seeds,
                 obs_dim=env.obs_dim, state_dim=env.state_dim)
    _, entry["mappo"] = record_run("mappo", cfg, env, seeds)
    record["pistonball"] = entry
    env.close()
    save()


def part_pettingzoo(args, record, save):
    from mpe2 import simple_spread_v3

    import jaxmarl_lite as jl
    from jaxmarl_lite.interop.pettingzoo import from_pettingzoo

    mappo = get("mappo")
    steps = scaled(args.spread_steps, args.scale)
    cfg = mappo.Config(recurrent=False, total_timesteps=steps, num_envs=8, num_steps=125,
                       update_epochs=10, num_minibatches=1, lr=7e-4, activation="relu",
                       eval_episodes=128)
    cfg = cfg.replace(eval_every=steps // (cfg.num_envs * cfg.num_steps))  # final eval only
    factory = lambda: simple_spread_v3.parallel_env(max_cycles=25, continuous_actions=False)  # noqa: E731
    envs = {"native simple_spread": jl.make("simple_spread"),
            "mpe2 simple_spread_v3 via from_pettingzoo": from_pettingzoo(
                factory, num_envs=args.seeds * cfg.num_envs, name="simple_spread_v3")}
    spread = record.setdefault("simple_spread", {})
    for label, env in envs.items():
        entry = dict(random=random_stats(env, args.random_episodes))
        _, rec = record_run("mappo", cfg, env, args.seeds)
        entry.update(mappo=rec)
        spread[label] = entry
        save()
    if len(spread) == 2:
        (_, a), (_, b) = spread.items()
        spread["comparison"] = dict(
            diff_native_minus_pz=a["mappo"]["mean"] - b["mappo"]["mean"],
            intervals_overlap=bool(abs(a["mappo"]["mean"] - b["mappo"]["mean"])
                                   <= a["mappo"]["ci95"] + b["mappo"]["ci95"]),
            throughput_ratio_native_over_pz=a["mappo"]["env_steps_per_s"]
            / b["mappo"]["env_steps_per_s"])
        save()
    for env in envs.values():
        getattr(env, "close", lambda: None)()

    if args.pistonball_steps > 0:
        part_pistonball(args, record, save)
    if args.kaz_steps <= 0:
        return
    try:
        from pettingzoo.butterfly import knights_archers_zombies_v11 as kaz
        kaz_factory = lambda: kaz.parallel_env(obs_method="vector",  # noqa: E731
                                               max_cycles=args.kaz_max_cycles)
        kaz_factory()
    except Exception as err:  # noqa: BLE001  (missing butterfly deps: report, do not install)
        record["knights_archers_zombies"] = dict(error=f"{type(err).__name__}: {err}")
        save()
        return
    steps = scaled(args.kaz_steps, args.scale)
    kcfg = mappo.Config(recurrent=False, total_timesteps=steps, num_envs=8, num_steps=128,
                        update_epochs=4, num_minibatches=2, lr=5e-4, eval_episodes=16)
    kcfg = kcfg.replace(eval_every=max(1, steps // (kcfg.num_envs * kcfg.num_steps)))
    env = from_pettingzoo(kaz_factory, num_envs=args.seeds * kcfg.num_envs,
                          name="knights_archers_zombies_v11")
    entry = dict(random=random_stats(env, args.kaz_random_episodes),
                 env=f"knights_archers_zombies_v11.parallel_env(obs_method='vector', "
                     f"max_cycles={args.kaz_max_cycles})")
    out, entry["mappo"] = record_run("mappo", kcfg, env, args.seeds)
    entry["mappo"]["final_sampled"] = record_final_eval("final_sampled", "mappo", kcfg, env,
                                                        out.carry.params, sample=True)
    record["knights_archers_zombies"] = entry
    env.close()
    save()


def render_pettingzoo(args, record) -> str:
    rows = []
    for label, entry in record.get("simple_spread", {}).items():
        if label == "comparison":
            continue
        r, rand = entry["mappo"], entry["random"]
        rows.append([label, f"{r['budget']:,}", ", ".join(f"{x:.2f}" for x in r["final"]),
                     f"**{fmt(r['mean'], r['ci95'])}**", fmt(rand["mean"], rand["ci95"]),
                     ", ".join(f"{x:.2f}" for x in r["train_return"]), f"{r['env_steps_per_s']:,.0f}",
                     f"{r['run_s'] + r['compile_s']:.0f} ({r['compile_s']:.0f})"])
    kaz = record.get("knights_archers_zombies", {})
    piston = record.get("pistonball", {})
    for entry, extra in ((kaz, ""), (piston, ", CNN torso")):
        if "mappo" in entry:
            r, rand = entry["mappo"], entry["random"]
            rows.append([f"PettingZoo {entry['env']} via from_pettingzoo{extra}", f"{r['budget']:,}",
                         ", ".join(f"{x:.2f}" for x in r["final"]),
                         f"**{fmt(r['mean'], r['ci95'])}**", fmt(rand["mean"], rand["ci95"]),
                         ", ".join(f"{x:.2f}" for x in r["train_return"]),
                         f"{r['env_steps_per_s']:,.0f}",
                         f"{r['run_s'] + r['compile_s']:.0f} ({r['compile_s']:.0f})"])
            if "final_sampled" in r:
                smp = r["final_sampled"]
                rows.append([f"(the same runs' sampled policy{extra})", "",
                             ", ".join(f"{x:.2f}" for x in smp["final"]),
                             f"**{fmt(smp['mean'], smp['ci95'])}**", fmt(rand["mean"], rand["ci95"]),
                             "", "", ""])
    table = markdown_table(
        ["env (MAPPO feed-forward)", "env steps / seed", "final greedy return per seed",
         "mean ± 95% CI", "random (± 95% CI)", "last training-rollout return per seed",
         "train env steps/s", "wall s (compile)"], rows)
    lines = []
    comp = record.get("simple_spread", {}).get("comparison")
    if comp:
        lines.append(f"* simple_spread, native minus PettingZoo: {comp['diff_native_minus_pz']:+.2f} "
                     f"(95% intervals {'overlap' if comp['intervals_overlap'] else 'do NOT overlap'}); "
                     f"throughput native / PettingZoo: **{comp['throughput_ratio_native_over_pz']:,.0f}x**.")
    if "error" in kaz:
        lines.append(f"* knights_archers_zombies not run: {kaz['error']}")
    elif kaz:
        lines.append("* knights_archers_zombies: `knights_archers_zombies_v10` is deprecated in "
                     "PettingZoo 1.27 (it raises DeprecatedEnv); v11's `obs_method='vector'` is "
                     "v10's `vector_state=True`. Reward: +1 per zombie an agent kills; team "
                     f"return = mean over the 4 agents; {kaz['mappo']['config']['eval_episodes']} "
                     "greedy (and, in the row below it, sampled: `mappo.make_policy(cfg, env, "
                     "sample=True)`, each action drawn from the trained stochastic policy) "
                     f"episodes per seed, random over {kaz['random']['episodes']} episodes.")
    if "error" in piston:
        lines.append(f"* pistonball not run: {piston['error']}")
    elif piston:
        lines.append(
            f"* pistonball ({piston['seeds']} seeds, the first {piston['seeds']} of the keys): "
            "20 pistons, each observing its `[457, 120, 3]` RGB view, preprocessed on the host "
            "with SuperSuit (`color_reduction_v0` 'full', `resize_v1` to 32 x 32, "
            "`frame_stack_v1` 2 frames, `dtype_v0` float32, `normalize_obs_v0` to [0, 1]) into "
            f"{piston['obs_dim']} features per piston; MAPPO's actor reads them through its CNN "
            "torso (`obs_image_shape=(32, 32, 2)`, two 3x3 stride-2 convolutions, 16 and 32 "
            "channels); its critic reads the global state `global_state=pistonball_state`: the "
            f"screen, grayscale, every 20th pixel ({piston['state_dim']} values). Team return = "
            "mean over the pistons of the ball's progress reward; "
            f"{piston['mappo']['config']['eval_episodes']} greedy episodes per seed, random over "
            f"{piston['random']['episodes']} episodes. One host copy steps at about 20-30 steps/s "
            "with this preprocessing (pistonball renders each piston's view; the adapter and "
            "the training add little): this run shows the pipeline end to end, not learning "
            "at a useful budget.")
    return (f"# Our MAPPO on PettingZoo envs through `from_pettingzoo`\n\n{table}\n"
            f"{args.seeds} seeds from `{KEYS}` (the same keys and config for both "
            "simple_spread rows), trained at once (`jax.jit(jax.vmap(train))`); final greedy "
            "return = MAPPO's own `eval_return` after its last update (mean team return over "
            "128 episodes per seed); random = uniformly random actions over "
            f"{args.random_episodes} episodes. Throughput: env steps of the whole compiled "
            "training loop (rollouts, updates, final evaluation) per second, compile excluded; "
            "host envs step behind `jax.pure_callback` (a host copy is reset only where an "
            "episode ended). MAPPO: 8 envs x 125 steps, 10 epochs, 1 minibatch, lr 7e-4, "
            "2 x 64 relu (Yu et al.'s MPE settings, feed-forward).\n\n"
            + "\n".join(lines) + "\n\n"
            f"Reproduce: `{args.command}`\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", required=True, choices=["jaxmarl", "pettingzoo"])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--scale", type=float, default=1.0, help="multiply every budget")
    p.add_argument("--random-episodes", type=int, default=512)
    g = p.add_argument_group("jaxmarl part")
    g.add_argument("--tasks", nargs="*", choices=["smax_3m", "overcooked_cramped_room"])
    g.add_argument("--algos", nargs="*", choices=["mappo", "qmix"])
    g.add_argument("--smax-mappo-steps", type=int, default=300_000)
    g.add_argument("--smax-qmix-steps", type=int, default=160_000,
                   help="episode slots (num_updates x 8 envs x 100 steps)")
    g.add_argument("--oc-mappo-steps", type=int, default=2_000_000)
    g.add_argument("--oc-qmix-steps", type=int, default=2_000_000,
                   help="episode slots (num_updates x 8 envs x 400 steps)")
    g.add_argument("--oc-shaping", type=float, default=1.0)
    g.add_argument("--smax-qmix-mixer-init-scale", type=init_scale, default=1e-3,
                   help="QMIX's mixer_init_scale on SMAX: a positive float, or none")
    g.add_argument("--oc-qmix-mixer-init-scale", type=init_scale, default=None,
                   help="QMIX's mixer_init_scale on Overcooked: a positive float, or none")
    g = p.add_argument_group("pettingzoo part")
    g.add_argument("--spread-steps", type=int, default=100_000)
    g.add_argument("--kaz-steps", type=int, default=100_000, help="0 skips it")
    g.add_argument("--kaz-max-cycles", type=int, default=200)
    g.add_argument("--kaz-random-episodes", type=int, default=64)
    g.add_argument("--pistonball-steps", type=int, default=4096, help="0 skips it")
    g.add_argument("--pistonball-seeds", type=int, default=2)
    g.add_argument("--pistonball-max-cycles", type=int, default=125)
    g.add_argument("--pistonball-random-episodes", type=int, default=8)
    args = p.parse_args()
    args.command = "python benchmarks/interop_learning.py " + " ".join(sys.argv[1:])
    custom = any(v != p.get_default(k) for k, v in vars(args).items()
                 if k not in ("part", "command"))
    name = f"interop_{args.part}" + ("_custom" if custom else "")
    record: dict = {}
    render = render_jaxmarl if args.part == "jaxmarl" else render_pettingzoo
    t_start = time.perf_counter()

    def save():
        md = render(args, record)
        payload = dict(part=args.part, command=args.command, seeds=args.seeds, keys=KEYS,
                       args={k: v for k, v in vars(args).items() if k != "command"},
                       wall_s=time.perf_counter() - t_start, results=record)
        write_result(name, payload, md + f"\nTotal wall time {time.perf_counter() - t_start:.0f} s.\n")
        return md

    (part_jaxmarl if args.part == "jaxmarl" else part_pettingzoo)(args, record, save)
    print(save())


if __name__ == "__main__":
    main()
