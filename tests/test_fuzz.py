"""Generated bad input, property-based (hypothesis, derandomised and bounded): every
registered env's constructor and API, every algorithm's Config, the placement and the CLI
get a clear error (the expected exception type, a message naming what was expected) and
nothing else: no other exception, no traceback, nothing written, nothing compiled.

Each test tallies what it tried in ``TALLY``; ``test_zz_tally`` prints the totals (the
numbers README quotes: ``python -m pytest tests/test_fuzz.py -q -s``)."""
from __future__ import annotations

import dataclasses
import typing

import jax
import jax.numpy as jnp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxmarl_lite as jl
from jaxmarl_lite import algorithms, parallel, population
from jaxmarl_lite.cli import main

TALLY: dict = {}
FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _record(area: str, clean: bool) -> None:
    tried, ok = TALLY.get(area, (0, 0))
    TALLY[area] = (tried + 1, ok + int(clean))


def _clean(fn, names=(), types=(ValueError, TypeError)):
    """Whether ``fn()`` raised one of ``types`` whose message names one of ``names``."""
    try:
        fn()
    except types as err:
        text = str(err)
        return bool(text) and (not names or any(n in text for n in names))
    except Exception:  # noqa: BLE001  (anything else is an unclean failure)
        return False
    return False


# ------------------------------------------------------------------------- envs
ENVS = jl.registered_envs()
BAD_VALUES = st.one_of(st.text(min_size=1, max_size=4), st.just(None), st.just(-3),
                       st.just(0), st.just(2.5), st.just(float("nan")), st.just([1, 2]),
                       st.just(True))


@FAST
@given(env=st.sampled_from(ENVS), key=st.text(min_size=1, max_size=8))
def test_env_unknown_kwargs(env, key):
    if key in ENVS:
        return
    clean = _clean(lambda: jl.make(env, **{f"_x{key}": 1}), names=("Valid", "takes no"))
    _record("env kwargs", clean)
    assert clean


def _int_fields(env_name):
    env = jl.make(env_name)
    if not dataclasses.is_dataclass(env):
        return []
    hints = typing.get_type_hints(type(env))
    return [f.name for f in dataclasses.fields(env) if hints.get(f.name) is int]


INT_FIELDS = [(e, f) for e in ENVS for f in _int_fields(e)]


@FAST
@given(case=st.sampled_from(INT_FIELDS), value=BAD_VALUES)
def test_env_int_fields_reject_bad_values(case, value):
    env, field = case
    try:
        jl.make(env, **{field: value})
    except (ValueError, TypeError) as err:
        clean = field in str(err)
    except Exception:  # noqa: BLE001
        clean = False
    else:  # accepted: only a valid value may pass (0 can be valid, e.g. no obstacles)
        clean = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    _record("env fields", clean)
    assert clean, (env, field, value)


BAD_KEYS = st.sampled_from(["int", "none", "float", "batch_typed", "batch_raw", "short_raw",
                            "str"])


def _bad_key(kind):
    return {"int": 0, "none": None, "float": jnp.zeros((2,), jnp.float32),
            "batch_typed": jax.random.split(jax.random.key(0), 3),
            "batch_raw": jax.random.split(jax.random.PRNGKey(0), 3),
            "short_raw": jnp.zeros((3,), jnp.uint32), "str": "key"}[kind]


@FAST
@given(env=st.sampled_from(ENVS), kind=BAD_KEYS, where=st.sampled_from(["reset", "step"]))
def test_env_keys_are_checked(env, kind, where):
    e = jl.make(env)
    _, state = e.reset(jax.random.key(0))
    actions = e.sample_actions(jax.random.key(1), state)
    call = (lambda: e.reset(_bad_key(kind))) if where == "reset" else (
        lambda: e.step(_bad_key(kind), state, actions))
    clean = _clean(call, names=("PRNG key",))
    _record("env keys", clean)
    assert clean, (env, kind, where)


@FAST
@given(env=st.sampled_from(ENVS), extra=st.integers(1, 3), dtype=st.sampled_from(["ok", "bad"]))
def test_env_action_shapes_and_dtypes(env, extra, dtype):
    e = jl.make(env)
    _, state = e.reset(jax.random.key(0))
    actions = jnp.asarray(e.sample_actions(jax.random.key(1), state))
    wrong = jnp.concatenate([actions] + [actions[:1]] * extra) if dtype == "ok" else (
        actions.astype(jnp.float32) if e.is_discrete else actions.astype(jnp.int32))
    clean = _clean(lambda: e.step(jax.random.key(2), state, wrong), names=("expected",))
    _record("env actions", clean)
    assert clean


# ---------------------------------------------------------------------- configs
ALGOS = sorted(algorithms.ALGORITHMS)


def _fields(algo):
    cls = algorithms.get(algo).Config
    return [(algo, name, hint) for name, hint in cls.field_types().items()]


FIELDS = [f for a in ALGOS for f in _fields(a)]


def _bad_value_for(hint, pick):
    """A value that is wrong for ``hint`` whatever the field's own bounds."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return ["nope", 3, None][pick % 3]
    if hint is bool:
        return ["yes", 2, None][pick % 3]
    if hint is int:
        return ["many", 2.5, None, float("inf")][pick % 4]
    if hint is str:
        return [3, None][pick % 2]
    # float or Optional[float]
    return ["fast", float("nan"), float("inf"), float("-inf"), [0.1]][pick % 5]


@FAST
@given(case=st.sampled_from(FIELDS), pick=st.integers(0, 11))
def test_config_fields_reject_wrong_types_and_non_finite_values(case, pick):
    algo, name, hint = case
    value = _bad_value_for(hint, pick)
    cls = algorithms.get(algo).Config
    clean = _clean(lambda: cls(**{name: value}), names=(name,))
    _record("config fields", clean)
    assert clean, (algo, name, value)


NUMERIC = [(a, n) for a, n, h in FIELDS if h in (int, float)]


@FAST
@given(case=st.sampled_from(NUMERIC), value=st.sampled_from([-1, -0.5, 0, 1e12]))
def test_config_out_of_range_numbers_fail_or_are_valid(case, value):
    """Out-of-range numbers raise naming the field; a value that constructs must also build
    the loop (no later chex assertion naming neither field)."""
    algo, name = case
    module = algorithms.get(algo)
    hint = module.Config.field_types()[name]
    value = int(value) if hint is int and float(value).is_integer() else value
    if hint is int and not float(value).is_integer():
        return
    try:
        cfg = module.Config(**{name: value})
    except (ValueError, TypeError) as err:
        clean = name in str(err)
    except Exception:  # noqa: BLE001
        clean = False
    else:
        clean = _builds_or_clean(module, cfg, name)
    _record("config ranges", clean)
    assert clean, (algo, name, value)


def _builds_or_clean(module, cfg, name) -> bool:
    env = jl.make("simple_spread") if module.__name__.endswith("maddpg") else jl.make("grid_meet")
    try:
        stages = module.make_stages(cfg.replace(total_timesteps=max(cfg.total_timesteps, 1)), env)
        jax.eval_shape(stages.init, jax.random.key(0))
    except (ValueError, TypeError) as err:
        return bool(str(err))
    except Exception:  # noqa: BLE001
        return False
    return True


# --------------------------------------------------------------- placement, sweeps
@FAST
@given(seeds=st.one_of(st.integers(-3, 0), st.just(2.5), st.just(None), st.just("4")),
       shard=st.sampled_from(["auto", "seeds", "envs", "both", "rows"]))
def test_bad_placements(seeds, shard):
    clean = _clean(lambda: parallel.make_placement(seeds, 8, shard=shard),
                   names=("seeds", "shard"))
    _record("placement", clean)
    assert clean


@FAST
@given(name=st.sampled_from(["num_envs", "hidden_size", "recurrent", "lrr", "critic"]),
       values=st.lists(st.floats(-1, 1), min_size=1, max_size=3))
def test_bad_populations(name, values):
    cfg = algorithms.get("mappo").Config()
    clean = _clean(lambda: population.make_population(cfg, {name: values}),
                   names=(name, "lr"))
    _record("populations", clean)
    assert clean


# -------------------------------------------------------------------------- CLI
FLAG_CASES = [
    ["--seeds", "-2"], ["--seeds", "x"], ["--total-steps", "2.5e0.1"], ["--total-steps", "-5"],
    ["--save-every", "-1"], ["--devices", "0"], ["--devices", "999"], ["--shard", "rows"],
    ["--set", "lr=fast"], ["--set", "lrr=1"], ["--set", "lr"], ["--set", "gamma=2"],
    ["--set", "lr=inf"], ["--set", "lr=nan"], ["--set", "num_envs=0"],
    ["--set", "batch_size=99999"], ["--set", "mixer=vdn"], ["--env-set", "size=1"],
    ["--env-set", "sise=3"], ["--preset", "nope"], ["--grid", "num_envs=2,4"],
    ["--grid", "lr="], ["--range", "lr=5:1"], ["--range", "lr=0:1:log"],
    ["--config", "/nonexistent.yaml"], ["--on-nan", "ignore"], ["--progress-every", "-1"],
    ["--coordinator", "localhost:1"], ["--set", "learning_starts=99999999"],
]


@FAST
@given(case=st.sampled_from(FLAG_CASES), command=st.sampled_from(["train", "sweep"]),
       algo=st.sampled_from(["qmix", "mappo"]))
def test_cli_bad_flags_exit_2_with_one_line(case, command, algo, tmp_path_factory, capsys):
    if algo == "mappo" and case[1].startswith(("mixer", "batch_size", "learning_starts")):
        case = ["--set", "clip_eps=-1"]
    out = tmp_path_factory.mktemp("cli") / "run"
    grid = ["--grid", "lr=1e-3,3e-3"] if command == "sweep" and case[0] not in (
        "--grid", "--range") else []
    argv = [command, algo, "grid_meet", *case, *grid, "--out", str(out), "--no-progress"]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage line + one error line
        code = exc.code
    err = capsys.readouterr().err
    # argparse's usage may wrap over indented lines; what is left must be one error line
    lines = [line for line in err.splitlines()
             if line.strip() and not line.startswith(("usage:", " "))]
    clean = (code == 2 and "Traceback" not in err and len(lines) == 1 and not out.exists())
    _record("cli flags", clean)
    assert clean, (argv, code, err)


def test_zz_tally(capsys):
    """Print the totals (run last in this file); every area handled every input cleanly."""
    with capsys.disabled():
        total = sum(t for t, _ in TALLY.values())
        ok = sum(c for _, c in TALLY.values())
        for area, (t, c) in sorted(TALLY.items()):
            print(f"\n  fuzz {area}: {c}/{t} clean")
        if total:
            print(f"\n  fuzz total: {ok}/{total} bad inputs handled cleanly "
                  f"({100 * ok / total:.1f}%)")
    if not total:
        pytest.skip("run with the rest of tests/test_fuzz.py")
    assert ok == total
