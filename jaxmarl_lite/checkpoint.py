"""Checkpoints of a whole training carry with orbax, robust to interrupted saves.

Every save is written to a temporary directory and renamed into place by orbax, so a
process killed mid-save never replaces the last good checkpoint. On restore the newest
checkpoint that loads is used; a corrupted or partial one is skipped with a warning.
Typed PRNG keys in the carry are stored as their raw key data and re-wrapped on restore;
empty arrays (e.g. an MPE task without goals), which orbax cannot write, are stored as a
scalar placeholder and rebuilt from the reference carry's shape on restore.

Sharded carries (a run on a device mesh, :mod:`jaxmarl_lite.parallel`) are saved as they
lie: in a multi-process run every process writes its own devices' shards (every process
calls :meth:`Checkpointer.save` and :meth:`Checkpointer.restore_latest`). A restore puts each
array onto the sharding of the reference carry, which may be another mesh than the one that
saved it (e.g. another device count).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Optional, Tuple

import jax
import numpy as np
import orbax.checkpoint as ocp


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_storable(tree: Any) -> Any:
    def store(x):
        if _is_key(x):
            x = jax.random.key_data(x)
        if np.size(x) == 0:
            return np.zeros((), x.dtype)
        # jax.Arrays (sharded or not) go to orbax as they are; host values as numpy
        return x if isinstance(x, jax.Array) else np.asarray(x)

    return jax.tree.map(store, tree)


def _from_storable(stored: Any, like: Any) -> Any:
    def restore(value, ref):
        if _is_key(ref):
            return jax.random.wrap_key_data(value, impl=jax.random.key_impl(ref))
        if np.size(ref) == 0:
            return ref if isinstance(ref, jax.Array) else np.zeros(np.shape(ref), ref.dtype)
        return value

    return jax.tree.map(restore, stored, like)


CHECKSUMS = "checksums.json"


class CheckpointError(RuntimeError):
    """Checkpoints exist but none of them can be restored."""


def directory_digest(path: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file below ``path``."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        with f.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _abstract(tree: Any) -> Any:
    def spec(x):
        sharding = x.sharding if isinstance(x, jax.Array) else None
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding)

    return jax.tree.map(spec, tree)


class _quiet:
    """Silence orbax's and absl's loggers (a failed restore logs tracebacks of its
    background threads); the caller reports one line instead."""

    def __enter__(self):
        import logging

        self._loggers = [logging.getLogger(n) for n in ("absl", "orbax", "asyncio")]
        self._levels = [lg.level for lg in self._loggers]
        for lg in self._loggers:
            lg.setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *exc):
        for lg, level in zip(self._loggers, self._levels):
            lg.setLevel(level)


class Checkpointer:
    """Saves/restores a carry pytree under ``directory`` (one sub-directory per step).

    ``max_to_keep`` bounds disk use; keep at least 2 so a bad latest checkpoint has a
    fallback. Every saved checkpoint's files are hashed (``checksums.json``, written by
    process 0); a restore first checks the hash, so a checkpoint with flipped bytes is
    skipped (one warning line) instead of loading wrong values.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 3):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=False, create=True
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        self._manager.reload()
        return sorted(self._manager.all_steps())

    def save(self, step: int, carry: Any) -> None:
        """Write ``carry`` as checkpoint ``step`` (blocks until it is complete on disk)."""
        if step in self.steps():  # e.g. a corrupt one a resume fell back past: replace it
            try:
                self._manager.delete(step)
            except Exception:  # unreadable metadata: remove the directory itself
                shutil.rmtree(self.directory / str(step), ignore_errors=True)
            self._manager.reload()
        storable = _to_storable(carry)
        self._manager.save(step, args=ocp.args.StandardSave(storable), force=True)
        self._manager.wait_until_finished()
        if jax.process_index() == 0:
            present = {str(s) for s in self.steps()}
            sums = {k: v for k, v in self._checksums().items() if k in present}
            sums[str(step)] = directory_digest(self.directory / str(step))
            tmp = self.directory / (CHECKSUMS + ".tmp")
            tmp.write_text(json.dumps(sums, indent=1) + "\n")
            os.replace(tmp, self.directory / CHECKSUMS)

    def _checksums(self) -> dict:
        try:
            return json.loads((self.directory / CHECKSUMS).read_text())
        except (OSError, ValueError):
            return {}

    def verify(self, step: int) -> bool:
        """Whether checkpoint ``step``'s files match the hash saved with it (``True`` for a
        checkpoint saved without one)."""
        expected = self._checksums().get(str(step))
        return expected is None or directory_digest(self.directory / str(step)) == expected

    def restore_latest(self, like: Any) -> Optional[Tuple[int, Any]]:
        """``(step, carry)`` of the newest checkpoint that loads into the structure of
        ``like`` (a carry of the same shapes, e.g. a fresh ``init``); ``None`` if none do."""
        target = _abstract(_to_storable(like))
        for step in reversed(self.steps()):
            if not self.verify(step):
                warnings.warn(f"checkpoint {step} in {self.directory} is corrupt (its files do "
                              f"not match the checksum saved with it); falling back to an "
                              f"older one", RuntimeWarning, stacklevel=2)
                continue
            try:
                with _quiet():
                    stored = self._manager.restore(step, args=ocp.args.StandardRestore(target))
            except Exception as err:  # a partial or corrupted checkpoint: try the previous
                warnings.warn(
                    f"checkpoint {step} in {self.directory} could not be restored "
                    f"({type(err).__name__}: {str(err).splitlines()[0][:200]}); falling back "
                    f"to an older one", RuntimeWarning, stacklevel=2)
                continue
            return step, _from_storable(stored, like)
        return None

    def close(self) -> None:
        self._manager.close()
