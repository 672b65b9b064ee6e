"""Hyperparameters as data: a sweep is one compiled program whose members equal separate
runs; PBT's exploit/explore copies exactly the right members and resumes bitwise."""
from __future__ import annotations

import csv
import json
from typing import Any, Dict, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_lite as jl
from jaxmarl_lite import parallel, population, runs
from jaxmarl_lite.algorithms import get, selfplay_ppo
from jaxmarl_lite.algorithms._common.training import TrainStages, init_seeds
from jaxmarl_lite.cli import main

PPO_TINY = dict(num_envs=8, num_steps=16, num_minibatches=2, hidden_size=16, eval_every=2,
                eval_episodes=8)
QL_TINY = dict(num_envs=4, buffer_size=32, batch_size=4, learning_starts=0, hidden_size=8,
               mixer_embed_dim=4, hypernet_hidden=8, eval_every=2, eval_episodes=4)


def _plain(module, config, env, keys, updates):
    stages = module.make_stages(config, env)
    carry = init_seeds(stages, keys)
    return parallel.compile_updates(stages, carry, updates)(carry)


MADDPG_TINY = dict(num_envs=8, num_steps=4, learning_starts=0, batch_size=32, num_sgd_steps=2,
                   buffer_size=128, hidden_size=16, eval_every=2, eval_episodes=8)


@pytest.mark.parametrize("algo, env_name, tiny, values", [
    ("mappo", "grid_meet", PPO_TINY, {"lr": [1e-3, 5e-3], "ent_coef": [0.0, 0.05],
                                      "value_clip_eps": [0.2, 0.0]}),
    ("qmix", "grid_meet", QL_TINY, {"lr": [1e-3, 5e-3], "gamma": [0.9, 0.99],
                                    "td_lambda": [0.0, 0.5], "eps_finish": [0.05, 0.3]}),
    ("maddpg", "simple_spread_continuous", MADDPG_TINY, {"actor_lr": [1e-2, 3e-3],
                                                         "tau": [0.01, 0.05],
                                                         "noise_start": [0.3, 0.5]}),
    ("pqn", "grid_meet", dict(num_envs=4, num_steps=4, num_minibatches=2, hidden_size=8,
                              eval_every=2, eval_episodes=4),
     {"lr": [1e-3, 5e-3], "q_lambda": [0.0, 0.5], "eps_finish": [0.05, 0.3]}),
    ("selfplay_ppo", "tictactoe", dict(num_envs=16, num_steps=8, hidden_size=16, eval_games=4,
                                       eval_every=2), {"lr": [1e-3, 3e-3], "gamma": [0.99, 0.9]}),
])
def test_swept_member_equals_a_separate_run_with_its_values(algo, env_name, tiny, values):
    """Two members x two seeds in one program; the second member's runs equal plain runs
    of a config with its values (same seed keys), up to float rounding, and differ from
    the first member's. (The values include the switches a static config decides in
    Python: a value clip of 0, one-step targets.)"""
    module = selfplay_ppo if algo == "selfplay_ppo" else get(algo)
    env = (jl.make("simple_spread", continuous_actions=True)
           if env_name == "simple_spread_continuous" else jl.make(env_name))
    config = module.Config().replace(**tiny)
    pop = population.make_population(config, values)
    stages = population.sweep_stages(module, config, env, pop)
    keys = jax.random.split(jax.random.key(0), 2)
    carry = population.init_runs(stages, keys, pop)
    out = parallel.compile_updates(stages, carry, 3)(carry)
    for m in (1,):
        plain = _plain(module, config.replace(**pop.member(m)), env, keys, 3)
        for s in range(2):
            r = m * 2 + s
            for x, y in zip(jax.tree.leaves(plain.carry.params),
                            jax.tree.leaves(out.carry.params)):
                np.testing.assert_allclose(x[s], y[r], rtol=1e-4, atol=1e-5)
            for name in ("env_steps", "episode_return", "eval_return"):
                np.testing.assert_allclose(plain.metrics[name][s], out.metrics[name][r],
                                           rtol=1e-4, err_msg=name)
    # the two members did differ
    assert not np.allclose(jax.tree.leaves(out.carry.params)[0][0],
                           jax.tree.leaves(out.carry.params)[0][2])


def test_one_compilation_serves_the_whole_sweep_and_new_values():
    """The update is traced once for 4 members (vmapped), and a new population of the same
    size runs through the same compiled program."""
    module, env = get("mappo"), jl.make("grid_meet")
    config = module.Config().replace(**PPO_TINY)
    traces = []
    base = module.make_stages(config, env, hyper=("lr",))

    def update(c):
        traces.append(1)
        return base.update(c)

    stages = TrainStages(base.init, update, base.num_updates)
    keys = jax.random.split(jax.random.key(0), 2)
    pop = population.grid(config, {"lr": [1e-4, 3e-4, 1e-3, 3e-3]})
    carry = population.init_runs(stages, keys, pop)
    compiled = parallel.compile_updates(stages, carry, 2)
    first = compiled(carry)
    other = population.grid(config, {"lr": [2e-3, 2e-3, 2e-3, 2e-3]})
    second = compiled(population.init_runs(stages, keys, other))
    assert len(traces) == 1
    assert first.metrics["value_loss"].shape == (8, 2)
    np.testing.assert_allclose(np.asarray(second.carry.hyper["lr"]), 2e-3)
    assert not np.allclose(first.metrics["actor_loss"], second.metrics["actor_loss"])


def test_plain_stages_carry_no_hyperparameters():
    module, env = get("qmix"), jl.make("grid_meet")
    carry = module.make_stages(module.Config().replace(**QL_TINY), env).init(jax.random.key(0))
    assert carry.hyper == {}


@pytest.mark.parametrize("values, message", [
    ({"num_envs": [4, 8]}, "num_envs is structural .* needs a recompile"),
    ({"lrr": [1e-3]}, "Did you mean 'lr'"),
    ({"gamma": [0.9, 2.0]}, "gamma must be in"),
    ({"lr": [1e-3], "gamma": [0.9, 0.99]}, "same number"),
])
def test_bad_populations_fail_before_compiling(values, message):
    config = get("mappo").Config()
    with pytest.raises(ValueError, match=message):
        population.make_population(config, values)


def test_pbt_and_range_validation():
    with pytest.raises(ValueError, match="PBT.every must be an int >= 1"):
        population.PBT(every=0)
    with pytest.raises(ValueError, match=r"PBT.fraction must be in \(0, 0.5\]"):
        population.PBT(every=2, fraction=0.9)
    with pytest.raises(ValueError, match="log range needs low > 0"):
        population.Range(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="finite low <= high"):
        population.Range(2.0, 1.0)


class _Fake(NamedTuple):
    params: jax.Array  # [R, 3]
    key: jax.Array  # [R]
    hyper: Dict[str, Any]


def test_pbt_exploit_copies_exactly_the_right_members_and_explores_within_bounds():
    """4 members x 2 seeds, fitness known: per seed the worst member copies the best's
    whole state (here params), gets a fresh key and perturbed values within bounds; every
    other run is untouched bit for bit."""
    config = get("mappo").Config()
    pop = population.make_population(config, {"lr": [1e-4, 3e-4, 1e-3, 3e-3],
                                               "gamma": [0.9, 0.95, 0.97, 0.99]})
    p, s = 4, 2
    runs_ = _Fake(jnp.arange(p * s * 3, dtype=jnp.float32).reshape(p * s, 3),
                  jax.random.split(jax.random.key(5), p * s),
                  {"lr": jnp.repeat(jnp.asarray(pop.values["lr"], jnp.float32), s),
                   "gamma": jnp.repeat(jnp.asarray(pop.values["gamma"], jnp.float32), s)})
    # fitness [P, S]: seed 0 best member 2, worst 0; seed 1 best 0, worst 3
    fit = jnp.asarray([[1.0, 9.0], [5.0, 4.0], [8.0, 3.0], [2.0, 1.0]]).reshape(-1)
    pc = population.init_pbt(runs_, jax.random.key(1))._replace(
        fitness_sum=fit * 2, fitness_count=jnp.full((p * s,), 2.0))
    pbt = population.PBT(every=1, fraction=0.25, resample_prob=0.0)
    new, parent = population.exploit_explore(pc, config, pbt, pop, s)
    parent = np.asarray(parent)
    expected = np.arange(p * s)
    expected[0 * s + 0] = 2 * s + 0  # seed 0: member 0 copies member 2
    expected[3 * s + 1] = 0 * s + 1  # seed 1: member 3 copies member 0
    np.testing.assert_array_equal(parent, expected)
    params = np.asarray(new.runs.params)
    np.testing.assert_array_equal(params, np.asarray(runs_.params)[expected])
    copied = parent != np.arange(p * s)
    old_keys = np.asarray(jax.random.key_data(runs_.key))
    new_keys = np.asarray(jax.random.key_data(new.runs.key))
    np.testing.assert_array_equal(new_keys[~copied], old_keys[~copied])
    assert not (new_keys[copied] == old_keys[expected][copied]).all()
    for name in ("lr", "gamma"):
        old = np.asarray(runs_.hyper[name])
        got = np.asarray(new.runs.hyper[name])
        np.testing.assert_array_equal(got[~copied], old[~copied])
        ratio = got[copied] / old[expected][copied]
        assert all(np.isclose(r, 0.8) or np.isclose(r, 1.2) or (name == "gamma" and g == 1.0)
                   for r, g in zip(ratio, got[copied]))
        assert (got <= 1.0).all() or name == "lr"  # gamma clipped to its bound
    np.testing.assert_array_equal(np.asarray(new.fitness_count), 0.0)
    assert int(new.round) == 1


def _rows(path):
    with path.open() as f:
        return list(csv.reader(f))


def test_cli_sweep_writes_table_and_plot(tmp_path, capsys):
    run = tmp_path / "sweep"
    argv = ["sweep", "mappo", "grid_meet", "--grid", "lr=1e-3,5e-3", "--seeds", "2",
            "--total-steps", str(8 * 16 * 4), "--out", str(run), "--no-progress", "--plot"]
    for k, v in PPO_TINY.items():
        argv += ["--set", f"{k}={v}"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "Sweep of 2 members x 2 seed(s)" in out and "final eval_return" in out
    assert (run / "sweep.png").stat().st_size > 1000
    assert [r[:3] for r in _rows(run / "population.csv")[1:]] == [
        ["0", "0", "0"], ["1", "0", "1"], ["2", "1", "0"], ["3", "1", "1"]]
    assert len(list((run / "metrics").glob("seed_*.csv"))) == 4
    spec = json.loads((run / "config.json").read_text())
    assert spec["population"]["values"] == {"lr": [1e-3, 5e-3]} and spec["population"]["pbt"] is None


@pytest.mark.parametrize("argv, message", [
    (["sweep", "mappo", "grid_meet", "--grid", "num_envs=4,8"], "num_envs is structural"),
    (["sweep", "mappo", "grid_meet"], "give the hyperparameters to vary"),
    (["sweep", "mappo", "grid_meet", "--range", "lr=1e-4:1e-3:log"], "--random N"),
    (["sweep", "mappo", "grid_meet", "--grid", "lr=fast"], "expects float"),
    (["sweep", "mappo", "grid_meet", "--range", "lr=1e-4"], "name=LOW:HIGH"),
    (["train", "mappo", "grid_meet", "--pbt"], "give the hyperparameters to vary"),
    (["train", "mappo", "grid_meet", "--pbt", "--grid", "lr=1e-3,3e-3", "--population", "3"],
     "does not match"),
    (["train", "mappo", "grid_meet", "--pbt", "--grid", "lr=1e-3", "--pbt-every", "2"],
     "PBT needs a population of >= 2 members"),
    (["train", "mappo", "grid_meet", "--pbt", "--grid", "lr=1e-3,3e-3", "--pbt-fraction", "0.9"],
     "PBT.fraction"),
])
def test_cli_bad_sweeps_fail_before_compiling(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_pbt_run_records_lineage_and_resumes_bitwise(tmp_path):
    """PBT inside the compiled loop (2 members x 2 seeds, a round every 2 updates): the
    lineage and the members' values are recorded; a run stopped after 3 updates (mid-round)
    and resumed ends bitwise equal to the uninterrupted one."""
    config = get("mappo").Config().replace(**PPO_TINY)
    pop = population.make_population(config, {"lr": [1e-3, 5e-3]})
    pbt = population.PBT(every=2, fraction=0.5, resample_prob=0.5)
    kw = dict(seeds=2, total_steps=8 * 16 * 6, overrides=PPO_TINY, save_every=3, progress=False,
              sweep=pop, pbt=pbt)
    full = runs.train("mappo", "grid_meet", out=tmp_path / "full", **kw)
    part = runs.train("mappo", "grid_meet", out=tmp_path / "part", stop_after=3, **kw)
    runs.resume(part, progress=False)
    ma, mb = runs.read_metrics(full), runs.read_metrics(part)
    for name in ma:
        np.testing.assert_array_equal(ma[name], mb[name], err_msg=name)
    _, _, a = runs.load_final(full)
    _, _, b = runs.load_final(part)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    lineage = _rows(full / "lineage.csv")
    assert lineage[0][:6] == ["update", "run", "member", "seed", "parent_run", "parent_member"]
    assert len(lineage) - 1 == 3 * 2  # 3 rounds x 2 seeds x 1 replaced member
    for row in lineage[1:]:
        assert int(row[0]) % 2 == 0 and int(row[3]) == int(row[4]) % 2  # same seed
    assert (full / "pbt.png").stat().st_size > 1000
    assert "PBT of 2 members x 2 seed(s)" in (full / "summary.md").read_text()
