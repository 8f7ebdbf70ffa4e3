"""Serve a WSGI app on a free loopback port with waitress, in a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress.server import create_server


@dataclass
class Served:
    url: str
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        """Close every channel (the trigger too), so the serving loop ends at once."""
        self.server.task_dispatcher.shutdown(cancel_pending=True)
        for dispatcher in list(self.server._map.values()):
            dispatcher.handle_close()
        self.thread.join(timeout=5)


def serve(app: Callable[..., Any], threads: int = 4) -> Served:
    logging.getLogger("waitress").setLevel(logging.ERROR)
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True, name="broken-server")
    thread.start()
    return Served(f"http://127.0.0.1:{server.effective_port}", server, thread)
