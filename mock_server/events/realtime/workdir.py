"""Centrifugo's working directory: private, held by its mock, swept once that mock is gone.

It holds Centrifugo's configuration (the token signing secret, the server API key) and its
log. The configuration is removed as soon as Centrifugo has read it (it does not read it
again), so a SIGKILL of the mock leaves no secret behind once Centrifugo answered; the
directory itself is removed at stop, or, after a SIGKILL, by the next mock that starts a
Centrifugo: each live owner holds an exclusive lock on `.owner.lock`, so a directory whose
lock can be taken has no owner left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no sweep, the OS temp cleaner does it
    fcntl = None  # type: ignore[assignment]

PREFIX = "envoy-events-centrifugo-"
LOCK = ".owner.lock"


class WorkDir:
    """A fresh 0700 directory in the temp dir, locked until `remove()`."""

    def __init__(self) -> None:
        sweep()
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX))
        self._lock_fd: int | None = os.open(self.path / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        if fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None


def sweep(root: Path | None = None) -> list[Path]:
    """Remove every working directory (of this user) whose mock is gone; returns them."""
    if fcntl is None:
        return []
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            fd = os.open(path / LOCK, os.O_RDWR)
        except OSError:  # another user's, being created, or not one of ours
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its mock is alive
            os.close(fd)
            continue
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
        removed.append(path)
    return removed
