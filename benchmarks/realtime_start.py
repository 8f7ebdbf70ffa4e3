"""How long `envoy-events mock --realtime` takes from launch to both servers ready, once the
Centrifugo binary is cached (target: <= 2 s), and what Centrifugo costs in memory.

Each round launches the CLI as a person does, then polls until the mock's control API
answers AND the realtime server's health endpoint does; the figure is the wall time from
launch. Rounds run one after the other; the median and the spread are printed.

    .venv/bin/python benchmarks/realtime_start.py [rounds]
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from envoy_events_kit.net import free_port

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"


def one_round() -> tuple[float, int]:
    """(seconds to both ready, Centrifugo's RSS in KiB)."""
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen([str(ENVOY_EVENTS), "mock", "--realtime", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - began < 30:
            try:
                realtime = requests.get(f"http://127.0.0.1:{port}/__mock__/state",
                                        timeout=1).json()["realtime"]
            except requests.ConnectionError:
                time.sleep(0.01)
                continue
            health = realtime["api_url"].removesuffix("/api") + "/health"
            if requests.get(health, timeout=1).ok:
                both = time.perf_counter() - began
                child = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                       text=True).stdout.split()[0]
                rss = int(next(line.split()[1] for line in
                               Path(f"/proc/{child}/status").read_text().splitlines()
                               if line.startswith("VmRSS")))
                return both, rss
        raise SystemExit("the stand-in was not ready after 30 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    results = [one_round() for _ in range(rounds)]
    both = [r[0] for r in results]
    rss = [r[1] / 1024 for r in results]
    load = os.getloadavg()[0]
    print(f"realtime stand-in start ({rounds} rounds, load average {load:.2f}):")
    print(f"  launch -> mock and Centrifugo ready: median {statistics.median(both):.2f} s "
          f"(min {min(both):.2f}, max {max(both):.2f}; target <= 2 s)")
    print(f"  Centrifugo RSS after start: median {statistics.median(rss):.0f} MiB")


if __name__ == "__main__":
    main()
