"""Find the pinned Centrifugo binary, or build it with `go install` into the kit's cache.

Lookup order: an explicit path (`--centrifugo`), `$ENVOY_EVENTS_CENTRIFUGO`, `centrifugo` on
PATH (only if it reports the pinned version), then the kit's cache directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from envoy_events_kit.documents import cache_root

CENTRIFUGO_VERSION = "6.9.1"
MODULE = "github.com/centrifugal/centrifugo/v6"
ENV_VAR = "ENVOY_EVENTS_CENTRIFUGO"
INSTALL_HINT = "envoy-events realtime install"
#: Reproducible, stripped, and reporting its version (a plain `go install` reports v0.0.0).
LDFLAGS = f"-s -w -X {MODULE}/internal/build.Version={CENTRIFUGO_VERSION}"


class RealtimeUnavailable(RuntimeError):
    """No usable Centrifugo binary (or no Go to build one); the message says what to do."""


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
    raise RealtimeUnavailable(
        f"Centrifugo v{CENTRIFUGO_VERSION} is not installed: run `{INSTALL_HINT}` "
        f"(builds it with Go into {cache_dir()}), or pass --centrifugo PATH")


def install(force: bool = False, echo: Callable[[str], None] = print) -> Path:
    """Build the pinned version with `go install` into the cache; progress goes to `echo`.

    A warm Go module and build cache make this take seconds; a cold one minutes.
    """
    target = cached_binary()
    if not force and os.access(target, os.X_OK) and binary_version(target) == CENTRIFUGO_VERSION:
        echo(f"Centrifugo v{CENTRIFUGO_VERSION} is already installed: {target}")
        return target
    go = shutil.which("go")
    if go is None:
        raise RealtimeUnavailable(
            "Go is not installed: install Go 1.25 or newer (your package manager's golang "
            f"package), then run `{INSTALL_HINT}` again")
    target.parent.mkdir(parents=True, exist_ok=True)
    echo(f"Building Centrifugo v{CENTRIFUGO_VERSION} with {go} into {target.parent} "
         "(first build: a few minutes; later ones: seconds)...")
    command = [go, "install", "-trimpath", "-ldflags", LDFLAGS, f"{MODULE}@v{CENTRIFUGO_VERSION}"]
    env = {**os.environ, "GOBIN": str(target.parent)}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            echo("  " + line.rstrip())
    if proc.returncode != 0 or binary_version(target) != CENTRIFUGO_VERSION:
        raise RealtimeUnavailable(f"`go install {MODULE}@v{CENTRIFUGO_VERSION}` failed "
                                  f"(exit {proc.returncode}); see the lines above")
    echo(f"Installed: {target}")
    return target
