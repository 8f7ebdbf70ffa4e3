"""The HTTP servers a mock (or the benchmark's constant app) can run on, behind one small
interface: bind, start in the background, stop after in-flight requests finish. Nothing
here imports the mock, so the benchmark's baseline loads only the server it measures."""

from __future__ import annotations

from typing import Any, Literal, Protocol

Engine = Literal["granian", "waitress"]
ENGINES: tuple[Engine, ...] = ("granian", "waitress")
#: Python threads running the app. On Granian one thread is fastest and keeps the tail
#: short (several threads contending for the GIL there cost p99 0.3-1.5 s at 16
#: connections); waitress does its I/O in Python and needs several.
DEFAULT_THREADS: dict[str, int] = {"granian": 1, "waitress": 8}


class Serving(Protocol):
    """What `MockServer` needs of a server."""

    name: str
    port: int

    def bind(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


def engine(name: Engine, app: Any, host: str, port: int, threads: int,
            max_body: int) -> Serving:
    """The named server for `app`, not yet bound (each is imported only when chosen)."""
    if name == "granian":
        from .granian_engine import GranianEngine
        return GranianEngine(app, host, port, threads, max_body)
    if name == "waitress":
        from .waitress_engine import WaitressEngine
        return WaitressEngine(app, host, port, threads, max_body)
    raise ValueError(f"unknown server {name!r}: choose one of {', '.join(ENGINES)}")


