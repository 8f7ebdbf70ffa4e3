"""Find the pinned Centrifugo binary, or build it with `go install` into the kit's cache.

Lookup order: an explicit path (`--centrifugo`), `$ENVOY_EVENTS_CENTRIFUGO`, `centrifugo` on
PATH (only if it reports the pinned version), then the kit's cache directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from envoy_events_kit.documents import cache_root

CENTRIFUGO_VERSION = "6.9.1"
MODULE = "github.com/centrifugal/centrifugo/v6"
ENV_VAR = "ENVOY_EVENTS_CENTRIFUGO"
INSTALL_HINT = "envoy-events realtime install"
#: Reproducible, stripped, and reporting its version (a plain `go install` reports v0.0.0).
LDFLAGS = f"-s -w -X {MODULE}/internal/build.Version={CENTRIFUGO_VERSION}"


class RealtimeUnavailable(RuntimeError):
    """No usable Centrifugo binary (or no Go to build one); the message says what to do."""


class NotInstalled(RealtimeUnavailable):
    """No binary named and none installed: each front end says how to get one in its own
    words (a CLI flag is not a pytest option)."""


def cache_dir() -> Path:
    """Where `realtime install` puts the binary: the user's cache, per pinned version."""
    return cache_root() / "centrifugo" / f"v{CENTRIFUGO_VERSION}"


def cached_binary() -> Path:
    return cache_dir() / "centrifugo"


def binary_version(path: Path) -> str | None:
    """What `centrifugo version` says, e.g. '6.9.1'; None if it does not run."""
    try:
        out = subprocess.run([str(path), "version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except OSError:
        return None
    words = out.split()
    return words[1].lstrip("v") if len(words) > 1 and words[0] == "Centrifugo" else None


def find_binary(explicit: Path | None = None) -> Path:
    """The binary to run, or RealtimeUnavailable saying how to get one."""
    if explicit is not None:
        if not os.access(explicit, os.X_OK):
            raise RealtimeUnavailable(f"--centrifugo {explicit}: no executable file there")
        return Path(explicit)
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        if not os.access(from_env, os.X_OK):
            raise RealtimeUnavailable(f"${ENV_VAR}={from_env}: no executable file there")
        return Path(from_env)
    on_path = shutil.which("centrifugo")
    if on_path and binary_version(Path(on_path)) == CENTRIFUGO_VERSION:
        return Path(on_path)
    cached = cached_binary()
    if os.access(cached, os.X_OK):
        return cached
    raise NotInstalled(
        f"Centrifugo v{CENTRIFUGO_VERSION} is not installed: run `{INSTALL_HINT}` "
        f"(builds it with Go into {cache_dir()}), or pass --centrifugo PATH")


def not_installed_for_pytest() -> str:
    """What the realtime fixtures' skip says when no binary is there."""
    return (f"Centrifugo v{CENTRIFUGO_VERSION} is not installed: run `{INSTALL_HINT}` (or "
            f"`make realtime` in a checkout of the kit; it builds it with Go into "
            f"{cache_dir()}), or set {ENV_VAR}=/path/to/centrifugo (v{CENTRIFUGO_VERSION})")


#: Seconds between two "still building" lines while Go works.
HEARTBEAT_S = 10.0
#: What a first build costs, measured on a 2-core machine with cold Go caches.
EXPECTED_COLD_BUILD = "about 3 to 5 minutes on a cold Go cache (2 cores), seconds once warm"


def install(force: bool = False, echo: Callable[[str], None] = print,
            heartbeat_s: float = HEARTBEAT_S) -> Path:
    """Build the pinned version with `go install` into the cache, unless `find_binary` finds
    it already (`--force` builds anyway); progress goes to `echo`:
    what is built, then a line every `heartbeat_s` seconds with the time elapsed and what Go
    is doing, so a first build never sits silent for minutes.
    """
    target = cached_binary()
    if not force:
        try:
            found: Path | None = find_binary()
        except RealtimeUnavailable:
            found = None
        if found is not None and binary_version(found) == CENTRIFUGO_VERSION:
            echo(f"Centrifugo v{CENTRIFUGO_VERSION} is already installed: {found}")
            return found
    go = shutil.which("go")
    if go is None:
        raise RealtimeUnavailable(
            "Go is not installed: install Go 1.25 or newer (your package manager's golang "
            f"package), then run `{INSTALL_HINT}` again")
    target.parent.mkdir(parents=True, exist_ok=True)
    echo(f"Building Centrifugo v{CENTRIFUGO_VERSION} ({MODULE}) with {go} into "
         f"{target.parent}: Go downloads its modules, then compiles a few hundred packages; "
         f"expected: {EXPECTED_COLD_BUILD}. A line every {heartbeat_s:g} s says how it goes.")
    command = [go, "install", "-v", "-trimpath", "-ldflags", LDFLAGS,
               f"{MODULE}@v{CENTRIFUGO_VERSION}"]
    env = {**os.environ, "GOBIN": str(target.parent)}
    progress = _GoProgress()
    started = time.monotonic()
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=progress.read, args=(proc.stdout,), daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(timeout=heartbeat_s)
                break
            except subprocess.TimeoutExpired:
                echo(f"  ... {time.monotonic() - started:.0f} s: {progress.describe()}")
        reader.join(timeout=5)
    elapsed = time.monotonic() - started
    if proc.returncode != 0 or binary_version(target) != CENTRIFUGO_VERSION:
        for line in progress.tail():
            echo("  " + line)
        raise RealtimeUnavailable(f"`go install {MODULE}@v{CENTRIFUGO_VERSION}` failed "
                                  f"(exit {proc.returncode}); see the lines above")
    echo(f"Installed: {target} ({elapsed:.0f} s, {progress.describe()})")
    return target


class _GoProgress:
    """What `go install -v` said so far: modules downloaded, packages compiled, the last
    lines (shown when the build fails)."""

    def __init__(self) -> None:
        self.downloaded = 0
        self.compiled = 0
        self.last = ""
        self._tail: list[str] = []
        self._lock = threading.Lock()

    def read(self, stream: IO[str]) -> None:
        for raw in stream:
            line = raw.rstrip()
            with self._lock:
                self._tail = [*self._tail[-29:], line]
                if line.startswith("go: downloading "):
                    self.downloaded += 1
                    self.last = line.removeprefix("go: downloading ")
                elif line and " " not in line:  # -v prints each package's import path
                    self.compiled += 1
                    self.last = line

    def describe(self) -> str:
        with self._lock:
            if not self.downloaded and not self.compiled:
                return "resolving modules"
            stage = "compiling" if self.compiled else "downloading modules"
            return (f"{stage}; {self.downloaded} modules downloaded, {self.compiled} packages "
                    f"compiled (last: {self.last})")

    def tail(self) -> list[str]:
        with self._lock:
            return list(self._tail)
