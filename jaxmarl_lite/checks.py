"""``check_env(env)``: run an env's pure functions (traced, jitted, vmapped) and report every
broken rule of the contract in :mod:`jaxmarl_lite.env` at once, each naming the rule
(``[obs-dtype]``, ``[autoreset]``, ...) and what was expected versus found. Turn-based envs
may give a waiting agent an all-zero ``action_mask`` row: the mask rule asks that in every
state some agent can act, and that every agent can act somewhere in the rollout."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxmarl_lite.env import MultiAgentEnv
from jaxmarl_lite.spaces import Box, Discrete

COMPARE_STEPS = 3  # first steps where the unbatched run must equal copy 0 of the vmapped one
DEFAULT_STEPS = 53  # rollout length when max_episode_steps is missing


class ContractError(ValueError):
    """Raised by :func:`check_env`; ``failures`` holds one ``(rule, detail)`` per broken rule."""

    def __init__(self, env_name: str, failures: List[Tuple[str, str]]):
        merged: dict = {}  # one line per rule, in the order found
        for rule, detail in failures:
            merged[rule] = f"{merged[rule]}; {detail}" if rule in merged else detail
        self.failures = list(merged.items())
        lines = "".join(f"\n  [{rule}] {detail}" for rule, detail in self.failures)
        super().__init__(f"{env_name} breaks {len(self.failures)} rule(s) of the env "
                         f"contract (jaxmarl_lite/env.py):{lines}")

    @property
    def rules(self) -> List[str]:
        return [rule for rule, _ in self.failures]


def _jit(fn):
    """``jax.jit``; on CPU with LLVM optimisation off (same semantics, ~3x faster compiles,
    and the checker runs each program only a few times)."""
    cpu = jax.default_backend() == "cpu"
    return jax.jit(fn, compiler_options={"xla_backend_optimization_level": 0} if cpu else None)


def _trajectory(env, key, num_steps):
    """One env: reset, then ``num_steps`` random legal steps (auto-reset included)."""
    reset_key, scan_key = jax.random.split(key)
    obs0, state = env.reset(reset_key)

    def body(state, k):
        act_key, step_key = jax.random.split(k)
        actions = env.sample_actions(act_key, state)
        obs, new_state, reward, term, trunc, info = env.step(step_key, state, actions)
        rec = dict(actions=actions, step_key=jax.random.key_data(step_key), obs=obs,
                   reward=reward, terminated=term, truncated=trunc,
                   mask=env.action_mask(state), global_state=env.global_state(state))
        rec.update({k: info[k] for k in ("final_obs", "final_global_state") if k in info})
        return new_state, rec

    return obs0, jax.lax.scan(body, state, jax.random.split(scan_key, num_steps))[1]


def _transition(env, key, state, actions):
    """One unbatched ``step`` and, for a ``MultiAgentEnv``, what ``step_env`` and
    ``reset_env`` give from the keys the base class splits off ``key``."""
    out = env.step(key, state, actions)
    if not isinstance(env, MultiAgentEnv):
        return out, {}
    key_step, key_reset = jax.random.split(key)
    return out, dict(obs_step=env.step_env(key_step, state, env.check_actions(actions))[0],
                     obs_reset=env.reset_env(key_reset)[0])


def _close(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or "f" not in (a.dtype.kind + b.dtype.kind):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True))


def _same(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y),
                                                     equal_nan=True) for x, y in zip(la, lb))


def _traces_differ(fn, *args, traces: int = 6) -> bool:
    """True when fresh traces of ``fn(*args)`` differ (host-side randomness or state).

    A ``jax.jit``/``make_jaxpr`` trace is cached per function object, so each trace goes
    through a new wrapper; host values (numpy/python random draws) enter the jaxpr as
    constants, and two traces that drew differently differ there. Several traces make a
    coincidental match of small draws (e.g. 1 in 12 for two agents on four cells) vanishingly
    unlikely.
    """
    first = None
    for _ in range(traces):
        closed = jax.make_jaxpr(lambda *a: fn(*a))(*args)
        this = (str(closed), closed.consts)
        if first is None:
            first = this
        elif this[0] != first[0] or not _same(this[1], first[1]):
            return True
    return False


def _hash_error(env) -> str:
    try:
        hash(env)
    except TypeError as e:
        return f"; hash(env) raises TypeError: {e}"
    return ""


def _is_int(x, minimum=1) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= minimum


def check_env(env: Any, key: Any = None, num_steps: int | None = None, num_envs: int = 3) -> None:
    """Check ``env`` (one unbatched env) against the env contract: return ``None`` or raise
    :class:`ContractError` listing every broken rule, one line each. Rolls out
    ``2 * max_episode_steps + 3`` random legal steps (at most ``num_steps``) in ``num_envs``
    copies under ``jax.jit(jax.vmap(...))``, then copy 0 again one unbatched jitted step at
    a time (compared with the batched run, and used for the auto-reset rule)."""
    failures: List[Tuple[str, str]] = []
    name = type(env).__name__
    fail = lambda rule, detail: failures.append((rule, detail))  # noqa: E731
    stop = lambda: ContractError(name, failures)  # noqa: E731
    key = jax.random.key(0) if key is None else key
    if not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)

    # ---------------------------------------------------------------- static facts
    is_dc = dataclasses.is_dataclass(env)
    frozen, unhashable = is_dc and type(env).__dataclass_params__.frozen, _hash_error(env)
    if not frozen or unhashable:
        kind = f"a {'' if frozen else 'non-'}frozen dataclass" if is_dc else "no dataclass"
        fail("frozen-dataclass", "expected a @dataclasses.dataclass(frozen=True) instance "
             f"(hashable: a static jit argument), found {kind}{unhashable}")
    facts = {}
    for attr, ok, want in (("num_agents", _is_int, "an int >= 1"),
                           ("observation_space", lambda x: isinstance(x, Box), "a jl.Box"),
                           ("action_space", lambda x: isinstance(x, (Discrete, Box)),
                            "a jl.Discrete or jl.Box"),
                           ("max_episode_steps", _is_int, "an int >= 1")):
        try:
            facts[attr] = getattr(env, attr)
        except NotImplementedError:
            fail(attr, f"expected {name}.{attr} to be defined, found the base class's "
                 "NotImplementedError (define it as a property or field)")
        except Exception as e:  # noqa: BLE001  (any error is a finding)
            fail(attr, f"expected {name}.{attr} to be defined, found {type(e).__name__}: {e}")
        if attr in facts and not ok(facts[attr]):
            fail(attr, f"expected {want}, found {facts[attr]!r}")
    n, obs_space, act_space, horizon = (facts.get(a) for a in (
        "num_agents", "observation_space", "action_space", "max_episode_steps"))
    if {"num_agents", "observation_space", "action_space"} & {r for r, _ in failures}:
        raise stop()
    horizon = int(horizon) if _is_int(horizon) else None
    steps = 2 * horizon + 3 if horizon else DEFAULT_STEPS
    steps = min(steps, num_steps) if num_steps else steps
    discrete = isinstance(act_space, Discrete)
    n_act = act_space.n if discrete else act_space.shape[0]
    obs_sizes, act_sizes = tuple(env.obs_sizes), tuple(env.action_sizes)
    for attr, sizes, full in (("obs_sizes", obs_sizes, obs_space.shape[-1]),
                              ("action_sizes", act_sizes, n_act)):
        if len(sizes) != n or any(not 1 <= s <= full for s in sizes) or max(sizes) != full:
            fail("padding", f"expected {attr} to hold {n} sizes in 1..{full} (the largest "
                 f"{full}), found {sizes}")

    # -------------------------------------------------- shapes and dtypes (traced)
    t = {}
    for what, args in (("reset", lambda: (key,)),
                       ("sample_actions", lambda: (key, t["reset"][1])),
                       ("step", lambda: (key, t["reset"][1], t["sample_actions"])),
                       ("global_state", lambda: (t["reset"][1],)),
                       ("action_mask", lambda: (t["reset"][1],))):
        try:
            t[what] = jax.eval_shape(getattr(env, what), *args())
        except Exception as e:  # noqa: BLE001
            fail(what, f"expected {name}.{what} to trace, found {type(e).__name__}: {e}")
            raise stop() from e
    info, gs = t["step"][5], t["global_state"]
    obs_shape, obs_ok = (n,) + tuple(obs_space.shape), "final_obs" in info
    for where, o in (("reset", t["reset"][0]), ("step", t["step"][0]),
                     ("info['final_obs']", info.get("final_obs"))):
        if o is not None and tuple(o.shape) != obs_shape:
            fail("obs-shape", f"{where}: expected [num_agents, *observation_space.shape] = "
                 f"{obs_shape}, found {tuple(o.shape)}")
            obs_ok = False
        elif o is not None and o.dtype != jnp.float32:
            fail("obs-dtype", f"{where}: expected float32 observations, found {o.dtype}")
    if gs.ndim != 1 or gs.dtype != jnp.float32:
        fail("global_state", f"expected shape [state_dim] float32, found shape "
             f"{tuple(gs.shape)} {gs.dtype}")
    fgs = tuple(info["final_global_state"].shape) if "final_global_state" in info else None
    if "final_obs" not in info or fgs != tuple(gs.shape):
        fail("info", f"expected step's info to hold 'final_obs' and 'final_global_state' "
             f"(shape {tuple(gs.shape)}), found keys {sorted(info)} (final_global_state {fgs})")
    mask_ok = tuple(t["action_mask"].shape) == (n, n_act)
    if not mask_ok:
        fail("action_mask", f"expected shape [num_agents, num_actions] = {(n, n_act)}, "
             f"found {tuple(t['action_mask'].shape)}")
    for i, what, dtype in ((2, "reward", jnp.float32), (3, "terminated", jnp.bool_),
                           (4, "truncated", jnp.bool_)):
        x = t["step"][i]
        if tuple(x.shape) != (n,) or x.dtype != dtype:
            fail(what, f"expected shape ({n},) (one per agent) {np.dtype(dtype).name}, found "
                 f"shape {tuple(x.shape)} {x.dtype}")
    flags_ok = all(tuple(t["step"][i].shape) == (n,) and t["step"][i].dtype == bool
                   for i in (3, 4))

    # ------------------------------- jit(vmap) rollout, then copy 0 step by step unbatched
    run = _jit(jax.vmap(functools.partial(_trajectory, env, num_steps=steps)))
    keys = jax.random.split(key, num_envs)
    try:
        obs0, traj = jax.device_get(run(keys))
    except Exception as e:  # noqa: BLE001
        fail("jit-vmap", f"expected the rollout to run under jax.jit(jax.vmap(...)) over "
             f"{num_envs} copies, found {type(e).__name__}: {e}")
        raise stop() from e
    if not _same((obs0, traj), jax.device_get(run(keys))):
        fail("determinism", "expected one key to give one jitted rollout, found two")
    try:
        run(jax.random.split(jax.random.fold_in(key, 1), num_envs))
    except Exception as e:  # noqa: BLE001
        fail("different-keys", f"expected the rollout to run from another key, found "
             f"{type(e).__name__}: {e}")
    one, reset_one = _jit(functools.partial(_transition, env)), _jit(env.reset)
    unbatched = []  # per step: obs, terminated, truncated, info, step_env/reset_env obs
    try:
        obs, state = reset_one(jax.random.split(keys[0])[0])
        mismatch = [] if _close(obs, obs0[0]) else ["reset obs"]
        for s in range(steps):
            k = jax.random.wrap_key_data(traj["step_key"][0, s], impl=jax.random.key_impl(key))
            out, extra = one(k, state, traj["actions"][0, s])
            unbatched.append(jax.device_get((out[0], out[3], out[4], out[5], extra)))
            if s == 0 and not _same(out, one(k, state, traj["actions"][0, s])[0]):
                fail("determinism", "expected step(key, state, actions) twice to give "
                     "identical outputs, found different ones")
            if s == 0 and (_traces_differ(env.reset, jax.random.split(k)[1]) or (
                    extra and not _same(extra["obs_reset"],
                                        reset_one(jax.random.split(k)[1])[0]))):
                fail("determinism", "expected reset(key) to depend on key only, found two "
                     "traces giving different obs for one key (host-side randomness?)")
            if s == 0 and _traces_differ(env.step_env, k, state, traj["actions"][0, s]):
                fail("determinism", "expected step_env(key, state, actions) to depend on its "
                     "arguments only, found two traces that differ (host-side randomness?)")
            mismatch += [f"step {s} {field}" for field, i in (
                ("obs", 0), ("reward", 2), ("terminated", 3), ("truncated", 4))
                if s < COMPARE_STEPS and not _close(out[i], traj[field][0, s])]
            state = out[1]
        if mismatch:
            fail("jit-vmap", "expected copy 0 of the jit(vmap) rollout to equal the unbatched "
                 f"run, found differences in: {', '.join(mismatch)}")
    except Exception as e:  # noqa: BLE001
        fail("jit-vmap", f"expected the env to run unbatched under jax.jit, found "
             f"{type(e).__name__}: {e}")
        unbatched = []

    # ----------------------------------------------------------- values over the rollout
    values = {"reset obs": obs0, "obs": traj["obs"], "reward": traj["reward"],
              "global_state": traj["global_state"], "final_obs": traj.get("final_obs"),
              "final_global_state": traj.get("final_global_state")}
    bad = [k for k, v in values.items() if v is not None and np.asarray(v).dtype.kind == "f"
           and not np.all(np.isfinite(v))]
    if bad:
        fail("finite", f"expected finite values, found NaN/inf in: {', '.join(bad)}")
    if obs_ok:
        all_obs = np.concatenate([obs0[:, None], traj["obs"], traj["final_obs"]], axis=1)
        low, high = np.asarray(obs_space.low), np.asarray(obs_space.high)
        out_of = (np.isfinite(low) & (all_obs < low)) | (np.isfinite(high) & (all_obs > high))
        if out_of.any():
            fail("obs-bounds", f"expected observations in [{obs_space.low}, {obs_space.high}]"
                 f", found {int(out_of.sum())} entries outside (min {all_obs.min():.4g}, "
                 f"max {all_obs.max():.4g})")
        padded = [i for i, size in enumerate(obs_sizes[:n]) if np.any(all_obs[..., i, size:])]
        if padded:
            fail("padding", f"expected padded observation entries (beyond obs_sizes "
                 f"{obs_sizes}) to be zero, found non-zero ones for agents {padded}")
    if mask_ok:
        mask, acts = np.asarray(traj["mask"]), np.asarray(traj["actions"])
        legal_rows, problems = (mask > 0).any(-1), []  # [num_envs, steps, n]
        if not np.all((mask == 0) | (mask == 1)):
            problems.append(f"values outside {{0, 1}}: {np.unique(mask)[:6].tolist()}")
        if not legal_rows.any(-1).all():
            problems.append("a state where no agent has a legal action")
        if not legal_rows.any((0, 1)).all():
            problems.append(f"agents {np.flatnonzero(~legal_rows.any((0, 1))).tolist()} "
                            "never have a legal action")
        if discrete and any(np.any(mask[..., i, s:]) for i, s in enumerate(act_sizes[:n])):
            problems.append(f"padded actions beyond action_sizes {act_sizes} not masked")
        if problems:
            fail("action_mask", "expected a 0/1 mask with a legal action for every agent "
                 f"that acts and padded actions masked, found {'; '.join(problems)}")
        if discrete:
            picked = np.take_along_axis(mask, np.clip(acts, 0, n_act - 1)[..., None], -1)
            illegal = legal_rows & ((acts < 0) | (acts >= n_act) | (picked[..., 0] <= 0))
        else:
            illegal = ~((acts >= act_space.low) & (acts <= act_space.high)).all(-1)
        if illegal.any():
            fail("legal-actions", f"expected sample_actions(key, state) to be legal under "
                 f"action_mask(state), found {int(illegal.sum())} illegal actions")
    if horizon and flags_ok:
        done = np.all(traj["terminated"] | traj["truncated"], axis=-1)  # [num_envs, steps]
        longest = max(int(np.diff(np.concatenate([[-1], np.flatnonzero(d), [steps - 1]])).max())
                      for d in done)
        if longest > horizon:
            fail("episode-length", f"expected every episode to end within max_episode_steps="
                 f"{horizon} steps under random legal actions, found one running {longest}")
    if obs_ok and flags_ok and unbatched and unbatched[0][4]:
        where = []
        for s, (obs, term, trunc, info, extra) in enumerate(unbatched):
            ended = bool(np.all(term | trunc))
            if not _close(info["final_obs"], extra["obs_step"]):
                where.append(f"step {s}: info['final_obs'] != step_env's obs")
            if not _close(obs, extra["obs_reset" if ended else "obs_step"]):
                where.append(f"step {s}: obs != " + ("reset_env(key_reset)'s obs after the "
                             "episode ended" if ended else "step_env's obs mid-episode"))
        if where:
            fail("autoreset", "expected step to auto-reset from jax.random.split(key)[1] "
                 f"exactly when all agents are done, found {'; '.join(where[:3])}"
                 + (f" (+{len(where) - 3} more)" if len(where) > 3 else ""))
    if failures:
        raise stop()
