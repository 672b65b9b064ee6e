"""One writer per run directory: a lock file that notices a stale lock of a killed process.

``RunLock(run_dir)`` creates ``run_dir/.lock`` atomically (``O_CREAT | O_EXCL``) holding the
owner's host, pid and start time. A second writer fails with an error naming the owner. A
lock left by a process that no longer runs on this host (killed, crashed) is stale: it is
taken over with a warning. A lock held on another host cannot be checked from here and is
respected; the message says how to remove it by hand.
"""
from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path

LOCK_FILE = ".lock"


class RunDirectoryLocked(RuntimeError):
    """Another process is writing the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Context manager (or ``acquire``/``release``) for ``run_dir/.lock``."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_FILE
        self.held = False

    def acquire(self) -> "RunLock":
        me = dict(host=socket.gethostname(), pid=os.getpid(),
                  started=time.strftime("%Y-%m-%d %H:%M:%S"))
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                fresh = self._age() < 10.0  # a lock being written right now
                if (owner is None and not fresh) or (
                        owner is not None and owner.get("host") == me["host"]
                        and not _alive(int(owner.get("pid", -1)))):
                    warnings.warn(f"{self.path.parent}: taking over the stale lock of a "
                                  f"process that is gone ({owner})", RuntimeWarning,
                                  stacklevel=3)
                    self.path.unlink(missing_ok=True)
                    continue
                owner = owner or {}
                raise RunDirectoryLocked(
                    f"{self.path.parent} is being written by process {owner.get('pid', '?')} "
                    f"on {owner.get('host', '?')} (since {owner.get('started', 'now')}); one "
                    f"writer per run directory. If that process is gone, delete "
                    f"{self.path}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return self
        raise RunDirectoryLocked(f"could not take {self.path}")

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return float("inf")

    def _owner(self):
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None  # unreadable or half-written: treated as stale

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
