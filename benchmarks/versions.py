"""This checkout's mock against another checkout's, side by side in one run.

Before a change lands, is it as fast as what it replaces? Both `envoy-events mock` servers
(this one, and `--other`'s, e.g. a worktree of the last release with its own venv) run at
once; each round loads every endpoint on one, then on the other, with wrk, so each ratio
compares figures taken seconds apart on the same machine.

    git worktree add /tmp/old <commit> && python3 -m venv /tmp/old/.venv \\
      && /tmp/old/.venv/bin/pip install -c constraints.txt -e /tmp/old
    python benchmarks/versions.py --other /tmp/old/.venv/bin/envoy-events [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import SCENARIOS, wait_for_200, wrk

from envoy_events_kit.net import free_port

THIS = Path(sys.executable).parent / "envoy-events"


def start(binary: str, args: list[str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([binary, "mock", "--port", str(port), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_200(port, process, 30)
    return process, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, help="the other checkout's envoy-events")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--mock-args", default="", help="extra `envoy-events mock` arguments")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: `make bench-deps`", file=sys.stderr)
        return 2
    extra = args.mock_args.split()
    load = argparse.Namespace(wrk_threads=2, connections=16, duration=args.duration)
    servers = {"this": start(str(THIS), extra), "other": start(args.other, extra)}
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(args.rounds):
            for scenario in SCENARIOS:
                for name, (_, port) in servers.items():
                    result = wrk(port, scenario, load)
                    figures.setdefault((scenario.name, name), []).append(result.rps)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(10)
    average = Path("/proc/loadavg").read_text().split()[0]
    print(f"req/s, medians of {args.rounds} rounds (load average at the end {average}; "
          f"{time.strftime('%Y-%m-%d %H:%M')})")
    print(f"{'endpoint':<26} {'this':>8} {'other':>8} {'this/other':>10}")
    for scenario in SCENARIOS:
        this = statistics.median(figures[(scenario.name, "this")])
        other = statistics.median(figures[(scenario.name, "other")])
        print(f"{scenario.name:<26} {this:>8,.0f} {other:>8,.0f} {this / other:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
