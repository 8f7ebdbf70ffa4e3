"""Run Centrifugo as a child of the mock: start, wait until healthy, stop; never orphaned.

On Linux the child gets SIGTERM from the kernel when the thread that started it dies
(`PR_SET_PDEATHSIG`), so even a SIGKILLed mock leaves no Centrifugo behind. If Centrifugo
dies on its own, `on_exit` is called so the mock can stop too.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envoy_events_kit.net import free_port

from .workdir import WorkDir

START_TIMEOUT_S = 10.0
#: How long `/health` may take before Centrifugo counts as not answering.
HEALTH_TIMEOUT_S = 0.5
PORT_TRIES = 3


class RealtimeError(RuntimeError):
    """Centrifugo would not start or stopped; the message is one line for a person."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Centrifugo:
    """One Centrifugo process on a loopback port, configured by `make_config(port)`."""

    def __init__(self, binary: Path, make_config: Callable[[int], dict[str, Any]],
                 host: str = "127.0.0.1", port: int = 0,
                 on_exit: Callable[[str], None] | None = None) -> None:
        self.binary = Path(binary)
        self.host = host
        self.requested_port = port
        self.port = 0
        self._make_config = make_config
        self._on_exit = on_exit
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: WorkDir | None = None
        self._stopping = False
        self.started_in_s: float | None = None

    # -- addresses ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def websocket_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/connection/websocket"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Centrifugo:
        """Start and wait until `/health` answers; RealtimeError with Centrifugo's own last
        log line when it cannot."""
        began = time.perf_counter()
        self._dir = WorkDir()
        tries = 1 if self.requested_port else PORT_TRIES
        for attempt in range(tries):
            self.port = self.requested_port or free_port(self.host)
            problem = self._launch()
            if problem is None:
                self.started_in_s = time.perf_counter() - began
                threading.Thread(target=self._watch, name="centrifugo-watch",
                                 daemon=True).start()
                return self
            if "address already in use" not in problem or attempt == tries - 1:
                self._cleanup()
                raise RealtimeError(f"Centrifugo did not start on {self.host}:{self.port}: "
                                    f"{problem}")
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; removes the generated configuration."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._cleanup()

    def log_tail(self) -> str:
        """Centrifugo's last log line (the reason it refused to start, usually)."""
        assert self._dir is not None
        path = self._dir.path / "centrifugo.log"
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if not lines:
            return "it exited without saying why"
        last = lines[-1]
        with contextlib.suppress(ValueError, AttributeError):
            entry = json.loads(last)
            detail = entry.get("error") or ""
            return f"{entry.get('message', last)}{': ' + detail if detail else ''}"
        return last

    def _launch(self) -> str | None:
        """Run once on self.port; None when healthy, else why not."""
        assert self._dir is not None
        config_path = self._dir.path / "config.json"
        # It holds the signing secret and the API key: 0600 from its first byte, and gone
        # once Centrifugo has read it (see workdir.py).
        fd = os.open(config_path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self._make_config(self.port), handle, indent=1)
        try:
            with (self._dir.path / "centrifugo.log").open("wb") as log:
                self._proc = subprocess.Popen(
                    [str(self.binary), "--config", str(config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent, cwd=self._dir.path,
                )
        except OSError as exc:
            return f"cannot run {self.binary}: {exc.strerror or exc}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return self.log_tail()
            if self._healthy():
                config_path.unlink(missing_ok=True)  # read: Centrifugo does not read it again
                return None
            time.sleep(0.02)
        self._proc.kill()
        self._proc.wait()
        return f"not healthy after {START_TIMEOUT_S:.0f} s ({self.log_tail()})"

    def answering(self, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
        """Alive and answering `/health` within `timeout_s`: a stopped (SIGSTOP) or wedged
        Centrifugo is alive but does not answer."""
        return self.alive() and self._healthy(timeout_s)

    def _healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _watch(self) -> None:
        proc = self._proc
        if proc is None:
            return
        proc.wait()
        if not self._stopping and self._on_exit is not None:
            self._on_exit(f"Centrifugo exited unexpectedly (status {proc.returncode}): "
                          f"{self.log_tail() if self._dir else ''}")

    def _cleanup(self) -> None:
        if self._dir is not None:
            self._dir.remove()
            self._dir = None
