"""`--state-file`: keep organisations, created principals and webhook endpoints across restarts.

The store calls `StateFile.save` with its lock held after every change, so writes happen in
the order of the changes and a change is on disk before the request that made it is answered.
Each write is atomic: a temporary file in the same directory, fsync, rename over the old
file, fsync of the directory. A kill at any instant leaves either the previous or the new
state, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..spec import first_error
from .store import Store

FORMAT = "envoy-events-mock-state/1"
#: Where the control spec describes what a state file holds (a snapshot's `state`).
SNAPSHOT_STATE = "#/components/schemas/Snapshot/properties/state"


class StateFile:
    """One JSON file holding a `Store.snapshot()`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._last: str | None = None

    def load(self) -> dict[str, Any] | None:
        """The saved snapshot, None when there is no file yet; ConfigError when unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"--state-file {self.path}: cannot read it ({exc.strerror})") from exc
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT!r}")
            snapshot = data["state"]
            for key in ("serial", "organisations", "principals"):
                snapshot[key]  # noqa: B018 - presence check
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"--state-file {self.path}: not a mock state file ({exc}); "
                              "move it away or give another path") from exc
        self._last = text
        return snapshot

    def save(self, store: Store) -> None:
        """Write the store's state atomically; skipped when nothing changed on disk."""
        text = json.dumps({"format": FORMAT, "state": store.snapshot()}, indent=1) + "\n"
        if text == self._last:
            return
        directory = self.path.parent
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        _fsync_directory(directory)
        self._last = text


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def attach(store: Store, path: Path, validator: Any | None = None) -> StateFile:
    """Restore `store` from `path` if it exists, then save every later change to it.

    The file is checked as `PUT /__mock__/snapshot` checks a snapshot (`validator`: the
    control spec's schema of a snapshot's `state`, then the store's own checks), so a bad
    file stops the mock at start-up with one line instead of failing requests later.
    """
    state_file = StateFile(path)
    if not state_file.path.parent.is_dir():
        raise ConfigError(f"--state-file {state_file.path}: the directory "
                          f"{state_file.path.parent} does not exist")
    snapshot = state_file.load()
    if snapshot is not None:
        problem = first_error(validator, snapshot) if validator is not None else None
        if problem:
            raise ConfigError(f"--state-file {state_file.path}: not a mock state file "
                              f"({problem}); move it away or give another path")
        try:
            store.restore(snapshot)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"--state-file {state_file.path}: not a mock state file "
                              f"({exc}); move it away or give another path") from None
    store.on_change = state_file.save
    state_file.save(store)
    return state_file
