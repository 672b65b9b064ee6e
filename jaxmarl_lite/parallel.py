"""Training runs on a device mesh: many devices, many hosts, one compiled program.

A run's carry has a leading seed axis ``[S]`` (:func:`~jaxmarl_lite.algorithms._common.
training.init_seeds`) and, inside, env axes ``[num_envs, ...]``. A :class:`Placement` is a
2-D :class:`jax.sharding.Mesh` with the axes ``("seeds", "envs")`` that maps them onto
devices:

- ``seeds``: independent runs spread over devices (each device trains ``S / seed_shards``
  seeds, vmapped; a seed alone on its device runs unbatched in a per-device program,
  ``jax.shard_map``). Nothing crosses devices.
- ``envs``: data parallel inside every run: each device steps its share of ``num_envs``
  (and of the evaluation episodes), computes its share of every batch's loss, and the
  gradients (and every other sum over the batch: advantage and value statistics, episode
  metrics) are reduced across devices by XLA. The program is the one-device program
  partitioned by XLA (``jax.jit`` with shardings, GSPMD), so the *semantics* are those of one
  device: the same global ``num_envs`` gives the same run on 1, 2 or 4 devices up to float
  rounding (sums split across devices add in another order). Per-env keys come from
  :class:`~jaxmarl_lite.wrappers.VecEnv`'s ``split(key, num_envs)`` and random draws over a
  sharded batch are partitionable (``jax_threefry_partitionable``), so no key depends on the
  device count. Off-policy algorithms keep one replay buffer per run, replicated on the
  run's env devices: every device adds the whole update's transitions and samples the same
  global batch (the same samples as one device), then computes the loss on its share of
  that batch; gradients are averaged (summed over the global batch) across devices.
- ``both``: a 2-D mesh, ``seed_shards x env_shards`` devices.

Algorithms never see devices: they provide ``TrainStages.init/update`` and mark their
data-parallel batch axes with :func:`data_parallel` (a no-op without an ``envs`` mesh axis);
:func:`compile_updates` places and compiles the loop. Multi-host: :func:`initialize` starts
``jax.distributed``; the mesh then spans every process's devices, each process steps its
own devices' envs and seeds, and process 0 (:func:`is_primary`) owns the run directory.

Across placements, a seed's results agree up to float rounding, not bitwise: XLA's
reductions over a vmapped or partitioned axis are vectorised differently for different
local sizes (even one device with 2 vs 4 seeds differs in the last bit), and RL training
amplifies such differences over many updates. The same placement reproduces bitwise, and a
seed alone on its device (one seed, or as many seeds as devices) reproduces
``jax.jit(train)(key)`` bitwise.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Dict, Optional, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

SEEDS, ENVS = "seeds", "envs"
SHARD_CHOICES = ("auto", "seeds", "envs", "both")


@dataclasses.dataclass(frozen=True)
class Placement:
    """A run's device mesh ``(seeds, envs)``; build one with :func:`make_placement`."""

    mesh: Mesh
    shard: str  # what was asked for (after resolving "auto")

    @property
    def seed_shards(self) -> int:
        return int(self.mesh.shape[SEEDS])

    @property
    def env_shards(self) -> int:
        return int(self.mesh.shape[ENVS])

    @property
    def num_devices(self) -> int:
        return int(self.mesh.devices.size)

    def carry_sharding(self) -> NamedSharding:
        """Leading seed axis over ``seeds``, the rest replicated along ``envs`` at the
        boundary of the compiled call (inside it XLA keeps the env axes split)."""
        return NamedSharding(self.mesh, P(SEEDS))

    def shardings(self, tree: Any) -> Any:
        """Per leaf: :meth:`carry_sharding` for leaves with a leading run axis, replicated
        for scalars (e.g. a population loop's own key and counters)."""
        return jax.tree.map(lambda x: self.carry_sharding() if np.ndim(x) >= 1
                            else self.replicated(), tree)

    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    def describe(self) -> Dict[str, Any]:
        """What a run records: the mesh shape, its devices, the processes."""
        devices = self.mesh.devices.reshape(-1)
        return dict(shard=self.shard, mesh={SEEDS: self.seed_shards, ENVS: self.env_shards},
                    devices=[str(d) for d in devices], platform=devices[0].platform,
                    processes=jax.process_count())


def _divisors(n: int):
    return [d for d in range(1, n + 1) if n % d == 0]


def make_placement(seeds: int, num_envs: Optional[int] = None, devices: Optional[int] = None,
                   shard: str = "auto", seed_shards: Optional[int] = None) -> Placement:
    """The mesh for ``seeds`` seeds of a run with ``num_envs`` envs on ``devices`` devices
    (default: every device of every process).

    ``shard``: ``seeds`` (all devices on the seed axis; ``seeds`` must be divisible by
    ``devices``), ``envs`` (all on the env axis; ``num_envs`` divisible by ``devices``),
    ``both`` (``seed_shards`` x ``devices / seed_shards``; default ``seed_shards`` =
    ``gcd(seeds, devices)``) or ``auto``: ``gcd(seeds, devices)`` seed groups (all devices
    when the seeds divide evenly over them) and, on accelerators, the remaining devices on
    ``envs`` where ``num_envs`` divides; on CPU the remaining devices stay idle, since
    splitting one run's envs over CPU devices measured no faster than one device
    (``benchmarks/results/scaling.md``; ask for ``envs`` explicitly). Bad requests raise
    ``ValueError`` naming the numbers, before anything compiles."""
    if shard not in SHARD_CHOICES:
        raise ValueError(f"shard must be one of {', '.join(SHARD_CHOICES)}; got {shard!r}")
    for name, value in (("seeds", seeds), ("devices", devices), ("num_envs", num_envs),
                        ("seed_shards", seed_shards)):
        if (value is not None or name == "seeds") and (
                not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    available = jax.devices()
    n = len(available) if devices is None else int(devices)
    if n > len(available):
        raise ValueError(
            f"{n} devices requested but only {len(available)} exist "
            f"({available[0].platform}; on CPU set the count before JAX starts, e.g. "
            f"jaxmarl_lite.parallel.use_cpu_devices({n}) or "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={n})")
    if shard == "auto":
        s = math.gcd(seeds, n)
        e = 1
        if available[0].platform != "cpu" and num_envs is not None:
            e = max(d for d in _divisors(n // s) if num_envs % d == 0)
        resolved = "seeds" if e == 1 else ("envs" if s == 1 else "both")
    elif shard == "seeds":
        s, e, resolved = n, 1, shard
        if seeds % n:
            raise ValueError(f"--shard seeds: {seeds} seeds cannot be split evenly over {n} "
                             f"devices (use a multiple of {n} seeds, fewer devices, or "
                             f"--shard both/envs)")
    elif shard == "envs":
        s, e, resolved = 1, n, shard
    else:
        s = math.gcd(seeds, n) if seed_shards is None else int(seed_shards)
        if n % s or seeds % s:
            raise ValueError(f"--shard both: seed_shards={s} must divide both devices={n} "
                             f"and seeds={seeds}")
        e, resolved = n // s, shard
    if e > 1 and num_envs is None:
        raise ValueError(f"--shard {shard}: splitting envs needs the run's num_envs")
    if num_envs is not None and num_envs % e:
        raise ValueError(f"num_envs={num_envs} cannot be split evenly over {e} env shards "
                         f"({n} devices, {s} seed group(s)); use a multiple of {e} envs")
    grid = np.asarray(available[:s * e], dtype=object).reshape(s, e)
    return Placement(Mesh(grid, (SEEDS, ENVS), axis_types=(AxisType.Auto, AxisType.Auto)),
                     resolved)


# ------------------------------------------------------------------------- inside the loop
def data_parallel(tree: Any, axis: int = 0) -> Any:
    """Mark ``axis`` of every leaf of ``tree`` as a data-parallel batch axis: split over the
    mesh's ``envs`` axis when the loop is being compiled for one (a sharding constraint),
    unchanged otherwise. Leaves too small, or whose size the env shards do not divide, are
    left to XLA."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or ENVS not in mesh.axis_names or mesh.shape[ENVS] == 1:
        return tree
    k = mesh.shape[ENVS]

    def constrain(x):
        if not hasattr(x, "ndim") or x.ndim <= axis or x.shape[axis] % k:
            return x
        spec = [None] * x.ndim
        spec[axis] = ENVS
        return jax.lax.with_sharding_constraint(x, P(*spec))

    return jax.tree.map(constrain, tree)


def seed_axis_name() -> Optional[str]:
    """``"seeds"`` while compiling for a mesh with that axis (the ``spmd_axis_name`` of the
    vmap over seeds, so constraints inside it keep the seed split), else ``None``."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or SEEDS not in mesh.axis_names or SEEDS in mesh.manual_axes:
        return None  # no seeds axis, or inside a per-device program (shard_map)
    return SEEDS


# ----------------------------------------------------------------------------- placement
def place(tree: Any, placement: Placement) -> Any:
    """Put a host or device pytree with a leading seed axis onto the placement's mesh
    (works across processes: every process passes the same full value and keeps its
    devices' part)."""
    def put(x, run_axis=None):
        run_axis = np.ndim(x) >= 1 if run_axis is None else run_axis
        sharding = placement.carry_sharding() if run_axis else placement.replicated()
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            impl = jax.random.key_impl(x)  # the key's own shape decides, not its data's
            return jax.random.wrap_key_data(put(jax.random.key_data(x), run_axis), impl=impl)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return jax.device_put(x, sharding)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(put, tree)


def gather(tree: Any) -> Any:
    """A (possibly multi-process, sharded) pytree as host numpy arrays, on every process."""
    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils

            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.key_data(x)  # keys stay keys only on device
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return jax.device_get(x)

    return jax.tree.map(get, tree)


def compile_updates(stages, carry: Any, num_updates: int, placement: Optional[Placement] = None,
                    progress: Optional[Callable[[Any, Dict[str, Any]], None]] = None,
                    every: int = 0, donate: bool = False, batched_update=None,
                    check_finite: bool = True):
    """Compile ``num_updates`` vmapped updates of ``stages`` for a seeds carry (leading
    ``[S]``; :func:`~jaxmarl_lite.algorithms._common.training.run_updates_seeds`) on the
    placement's mesh (``None``: the default device, as before). Returns the compiled
    ``carry -> TrainResult``: the carry stays on the mesh, metrics come back replicated.
    ``batched_update``: an update of the whole batch of runs instead of the vmapped one.

    When every device holds exactly one seed (as many seeds as seed shards, envs not split)
    the loop is a per-device program (``jax.shard_map``): each device runs its seed's update
    unbatched, bitwise ``jax.jit(train)(key)`` on one device. XLA's partitioner kept a
    size-1 seed axis there, which XLA:CPU runs slower (2 seeds on 2 CPU devices, per-device
    vs partitioned: PQN 1.97x, QMIX/VDN/IQL 1.11-1.14x, IPPO-FF 1.05x;
    ``benchmarks/single_seed.py --seeds 2``). With several seeds per device the partitioned
    vmap stays (per-device vmapped programs measured 0.92-1.07x)."""
    from jaxmarl_lite.algorithms._common.training import TrainResult, run_updates_seeds

    runs = {np.shape(x)[0] for x in jax.tree.leaves(carry) if np.ndim(x) >= 1}
    per_device = (placement is not None and placement.seed_shards > 1
                  and placement.env_shards == 1 and batched_update is None
                  and runs == {placement.seed_shards})
    fn = lambda c: run_updates_seeds(  # noqa: E731
        stages, c, num_updates, progress, every, batched_update, check_finite,
        seed_axis=SEEDS if per_device else None)
    donate_argnums = (0,) if donate else ()
    if placement is None:
        return jax.jit(fn, donate_argnums=donate_argnums).lower(carry).compile()
    carry_sh = placement.shardings(carry)
    if per_device:  # one seed per device: each device compiles its own seed's loop
        specs = jax.tree.map(lambda x: P(SEEDS) if np.ndim(x) >= 1 else P(), carry)
        fn = jax.shard_map(fn, mesh=placement.mesh, in_specs=(specs,),
                           out_specs=TrainResult(specs, P(SEEDS)), check_vma=False)
    with jax.set_mesh(placement.mesh):
        jitted = jax.jit(fn, in_shardings=(carry_sh,), donate_argnums=donate_argnums,
                         out_shardings=TrainResult(carry_sh, placement.replicated()))
        return jitted.lower(carry).compile()


def train(stages, keys: jax.Array, placement: Optional[Placement] = None):
    """Research entry point: ``jax.vmap(train)(keys)`` of a :class:`TrainStages` on a mesh.

    ``keys [S]``; ``placement`` from :func:`make_placement` (default: every device, ``auto``;
    the env count for an ``envs`` split is read from nothing, so pass a placement to split
    envs). Returns a ``TrainResult`` whose carry is sharded over the mesh and whose metrics
    are ``[S, num_updates]`` (replicated)::

        stages = mappo.make_stages(cfg, env)
        placement = parallel.make_placement(seeds=8, num_envs=cfg.num_envs, shard="both")
        result = parallel.train(stages, jax.random.split(jax.random.key(0), 8), placement)
    """
    from jaxmarl_lite.algorithms._common.training import init_seeds

    if placement is None:
        placement = make_placement(len(keys))
    carry = place(init_seeds(stages, keys), placement)
    return compile_updates(stages, carry, stages.num_updates, placement, donate=True)(carry)


# ------------------------------------------------------------------------------- processes
def use_cpu_devices(count: Optional[int] = None) -> int:
    """Expose ``count`` CPU devices (default: one per available core) to JAX, so that
    seeds (or envs) can be placed on every core: XLA runs one CPU device's small operations
    largely on one core. Call it first thing, before JAX starts its backend (the first
    computation or ``jax.devices()``). Returns the CPU device count in effect: the user's
    own choice when ``XLA_FLAGS`` (``--xla_force_host_platform_device_count``) or
    ``jax_num_cpu_devices`` already set one, and JAX's count when its backend had already
    started (with a warning if that differs from an explicit ``count``). Only the CPU
    backend is affected: on a GPU/TPU machine the accelerators stay the default devices."""
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return int(flags.split("xla_force_host_platform_device_count=")[1].split()[0])
    current = jax.config.jax_num_cpu_devices
    if current not in (-1, None) and count is None:
        return int(current)
    n = int(count) if count is not None else available_cores()
    if n < 1:
        raise ValueError(f"use_cpu_devices needs count >= 1, got {count!r}")
    if xla_bridge.backends_are_initialized():
        have = len(jax.devices("cpu"))
        if count is not None and n != have:
            import warnings

            warnings.warn(f"use_cpu_devices({n}): JAX already started with {have} CPU "
                          f"device(s); call it before the first computation",
                          RuntimeWarning, stacklevel=2)
        return have
    jax.config.update("jax_num_cpu_devices", n)
    return n


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> None:
    """Start ``jax.distributed`` (before any computation). With no arguments JAX reads the
    cluster from the environment (SLURM, Open MPI, cloud TPU); on CPU the collectives use
    gloo."""
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise ValueError("multi-host needs all three of coordinator (HOST:PORT), "
                         "num_processes and process_id, or none (read from the environment)")
    if coordinator is not None:
        if ":" not in coordinator:
            raise ValueError(f"coordinator must be HOST:PORT, got {coordinator!r}")
        if not (isinstance(num_processes, int) and num_processes >= 1):
            raise ValueError(f"num_processes must be an int >= 1, got {num_processes!r}")
        if not (isinstance(process_id, int) and 0 <= process_id < num_processes):
            raise ValueError(f"process_id must be in [0, {num_processes - 1}], got {process_id!r}")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def is_primary() -> bool:
    """Process 0: the one that writes the run directory, metrics, logs and progress."""
    return jax.process_index() == 0


def sync(name: str) -> None:
    """A barrier across processes (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def process_digests(tree: Any) -> list[str]:
    """Per process, a short hash of the values this process holds of ``tree`` (its
    devices' shards, one copy of each, with their positions), gathered on every process.
    Where ``tree`` is replicated (e.g. parameters of a data-parallel run) the hashes of
    all processes must agree."""
    import hashlib

    h = hashlib.sha256()
    for leaf in jax.tree.leaves(tree):
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype,
                                                                 jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        shards = leaf.addressable_shards if isinstance(leaf, jax.Array) else None
        if not shards:
            h.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
            continue
        seen = set()
        for shard in shards:
            where = str(shard.index)
            if where not in seen:
                seen.add(where)
                h.update(where.encode())
                h.update(np.ascontiguousarray(np.asarray(shard.data)).tobytes())
    mine = np.frombuffer(h.digest()[:8], np.uint8)
    if jax.process_count() == 1:
        return [mine.tobytes().hex()]
    from jax.experimental import multihost_utils

    every = np.asarray(multihost_utils.process_allgather(mine))
    return [row.tobytes().hex() for row in every.reshape(jax.process_count(), -1)]


__all__: Sequence[str] = ("Placement", "make_placement", "data_parallel", "place", "gather",
                          "compile_updates", "train", "use_cpu_devices", "initialize",
                          "is_primary", "sync", "process_digests", "SEEDS", "ENVS")
