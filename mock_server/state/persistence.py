"""`--state-file`: keep organisations, created principals and webhook endpoints across restarts.

The state file wins over the fixtures for what it holds (each organisation's provisioning
and webhook endpoints, the principals created through the control API); organisations the
fixtures add after it was saved are taken from the fixtures, and every organisation on which
the two disagree is named in `StateFile.notes` (the banner prints them). `POST
/__mock__/reset` goes back to the fixtures.

The store calls `StateFile.save` with its lock held after every change, so writes happen in
the order of the changes and a change is on disk before the request that made it is answered.
Each write is atomic: a temporary file in the same directory, fsync, rename over the old
file, fsync of the directory. A kill at any instant leaves either the previous or the new
state, never a torn file. The temporary file holds webhook secrets and tokens like the state
file itself (both are 0600): one a SIGKILL left behind is removed when the mock next starts
with that state file.
"""

from __future__ import annotations

import glob
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
        #: Where the state file and the fixtures disagree, one sentence each (for the banner).
        self.notes: list[str] = []

    @property
    def _prefix(self) -> str:
        return f".{self.path.name}.tmp-"

    def sweep(self) -> list[Path]:
        """Remove the temporary files a killed write left beside the state file."""
        left = list(self.path.parent.glob(glob.escape(self._prefix) + "*"))
        for path in left:
            path.unlink(missing_ok=True)
        return left

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
        fd, temporary = tempfile.mkstemp(prefix=self._prefix, dir=directory)
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
    state_file.sweep()
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
        state_file.notes = _disagreements(store)
        state_file.notes += [f"{org_id}: not in the state file, taken from the fixtures"
                             for org_id in store.adopt_fixture_organisations()]
    store.on_change = state_file.save
    state_file.save(store)
    return state_file


def _disagreements(store: Store) -> list[str]:
    """Organisations whose provisioning or endpoints differ between fixtures and state."""
    notes = []
    for org in store.fixtures.organisations.values():
        saved = store.organisation(org.id)
        if saved is None:
            continue
        if saved.provisioned != org.provisioned:
            notes.append(f"{org.id}: {_provisioned(saved.provisioned)} in the state file, "
                         f"{_provisioned(org.provisioned)} in the fixtures")
        if {e.url for e in saved.webhook_endpoints} != {e.url for e in org.webhook_endpoints}:
            notes.append(f"{org.id}: {len(saved.webhook_endpoints)} webhook endpoint(s) from "
                         f"the state file (the fixtures have {len(org.webhook_endpoints)})")
    return notes


def _provisioned(flag: bool) -> str:
    return "provisioned" if flag else "not provisioned"
