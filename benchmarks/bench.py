"""Measure the mock side by side with constant-JSON baselines and Prism.

`make bench` (or `python benchmarks/bench.py`) loads each endpoint with wrk from a separate
process, against `envoy-events mock` as a user runs it (on Granian, and on waitress with
`--server waitress`), the constant-JSON baseline (`baseline_app.py`) on the *same* server
code and threads, the baseline on waitress, and Prism 5.14 (default logging and
`-v silent`) serving the same spec. The servers are loaded in turn within each round, so
each ratio compares figures taken seconds apart; absolute numbers on a shared machine drift,
those ratios hold better. It also measures cold start to the first 200, the start of the
pytest fixture's mock, the resident memory after the load and the contract suite, and prints
a table of medians, the issue's targets as ratios, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from envoy_events_kit.mock_server.serving.engines import DEFAULT_THREADS

from envoy_events_kit.net import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SPEC = ROOT / "openapi" / "events.yaml"
PRISM_VERSION = "5.14.2"
#: Installed, pinned, by `make interop-tools` (tools/interop/package-lock.json).
PRISM_LOCAL = ROOT / "tools" / "interop" / "node_modules" / ".bin" / "prism"

ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"
GLOBEX_ADMIN = "dev-admin-globex-6e4d2b8f0a1c3e57"
ACME = "org_26ZZVNs2QURl4yY6owPARekUbMa"
GLOBEX = "org_27owyTHZIhhFrII3bP5tqKmc9Vo"


@dataclass(frozen=True)
class Scenario:
    """One request, repeated by wrk."""

    name: str
    path: str
    token: str
    body: dict | None = None
    query: str = ""

    @property
    def url_path(self) -> str:
        return self.path + self.query

    def lua(self) -> str:
        lines = ['wrk.method = "GET"', f'wrk.headers["Authorization"] = "Bearer {self.token}"']
        if self.body is not None:
            lines += ['wrk.headers["Content-Type"] = "application/json"',
                      f"wrk.body = [[{json.dumps(self.body)}]]"]
        return "\n".join(lines) + "\n"


SCENARIOS = [
    Scenario("connection_token", "/events/connection_token", ADMIN),
    Scenario("subscription granted", "/events/subscription_token", ADMIN,
             {"channel": f"shipments:{ACME}"}),
    # The same request in the spec's query form (what Prism serves without reading a body).
    Scenario("subscription ?channel=", "/events/subscription_token", ADMIN,
             query=f"?channel=shipments:{ACME}"),
    Scenario("subscription forbidden", "/events/subscription_token", ADMIN,
             {"channel": f"shipments:{GLOBEX}"}),
    Scenario("subscription malformed", "/events/subscription_token", ADMIN,
             {"channel": "not a channel"}),
    # Idempotent: Acme stays provisioned, Globex stays deprovisioned between rounds.
    Scenario("provision", "/events/provision", ADMIN),
    Scenario("deprovision", "/events/deprovision", GLOBEX_ADMIN),
]


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    status: int


@dataclass
class Server:
    """A server under test, run as its own process."""

    name: str
    command: Callable[[int], list[str]]
    quiet: bool = True
    process: subprocess.Popen | None = None
    port: int = 0
    runs: dict[str, list[Load]] = field(default_factory=dict)

    def start(self) -> float:
        """Spawn and wait for the first 200; returns the seconds that took."""
        self.port = free_port()
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.command(self.port), cwd=ROOT, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_200(self.port, self.process, timeout=60)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.process is not None:
            _terminate_group(self.process)
            self.process = None

    def rss_mb(self) -> float:
        """Resident memory of the server and its children (npx runs node in a child)."""
        assert self.process is not None
        return sum(_rss_kb(pid) for pid in _tree(self.process.pid)) / 1024


def http_status(port: int, scenario: Scenario, timeout: float = 2.0) -> int:
    """One request as wrk sends it; the status code (0 when nothing answered)."""
    body = json.dumps(scenario.body).encode() if scenario.body is not None else b""
    head = (f"GET {scenario.url_path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {scenario.token}\r\nConnection: close\r\n")
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(head.encode() + b"\r\n" + body)
            first = sock.recv(64)
    except OSError:
        return 0
    match = re.match(rb"HTTP/1\.[01] (\d{3})", first)
    return int(match.group(1)) if match else 0


def wait_for_200(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    probe = SCENARIOS[0]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        if http_status(port, probe, timeout=0.5) == 200:
            return
        time.sleep(0.002)
    raise RuntimeError(f"no 200 on port {port} within {timeout} s")


def _tree(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids += map(int, children)
        frontier += map(int, children)
    return pids


def _rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


def _terminate_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group (npx -> node), SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, 15)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
    except ProcessLookupError:
        process.wait()


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(port: int, scenario: Scenario, args: argparse.Namespace) -> Load:
    """One wrk run; throughput, latency percentiles and socket errors."""
    status = http_status(port, scenario)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(scenario.lua())
    try:
        out = subprocess.run(
            ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{args.duration}s",
             "--latency", "-s", script.name, f"http://127.0.0.1:{port}{scenario.url_path}"],
            capture_output=True, text=True, check=True, timeout=args.duration + 30).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(rps, p50, p99, errors, status)


def _prism_command(quiet: bool) -> Callable[[int], list[str]]:
    base = [str(PRISM_LOCAL)] if PRISM_LOCAL.exists() else [
        "npx", "--yes", f"@stoplight/prism-cli@{PRISM_VERSION}"]
    level = ["--verboseLevel", "silent"] if quiet else []

    def command(port: int) -> list[str]:
        return [*base, "mock", str(SPEC), "-h", "127.0.0.1", "-p", str(port), *level]

    return command


def servers(args: argparse.Namespace) -> list[Server]:
    """The mock first and the baseline on its server second: the ratios divide by them.
    Each runs with its server's default threads (1 on Granian, 8 on waitress) unless
    --threads says otherwise, the baseline with the same number as the mock beside it."""
    envoy_events = shutil.which("envoy-events", path=str(BIN)) or "envoy-events"
    baseline = [sys.executable, str(ROOT / "benchmarks" / "baseline_app.py")]
    given = ["--threads", str(args.threads)] if args.threads else []

    def threads(engine: str) -> str:
        return str(args.threads or DEFAULT_THREADS[engine])

    found = [
        Server("mock", lambda port: [envoy_events, "mock", "--port", str(port), *given]),
        Server("baseline", lambda port: [*baseline, str(port), threads("granian"), "granian"]),
        Server("mock-waitress", lambda port: [envoy_events, "mock", "--port", str(port),
                                              *given, "--server", "waitress"]),
        Server("baseline-waitress", lambda port: [*baseline, str(port), threads("waitress"),
                                                  "waitress"]),
    ]
    if args.prism:
        found.append(Server("prism", _prism_command(quiet=False)))
        found.append(Server("prism-quiet", _prism_command(quiet=True)))
    return found


def cold_starts(server: Server, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        times.append(server.start())
        server.stop()
    return times


FIXTURE_START = """
import time
from envoy_events_kit.mock_server import MockServer
started = time.perf_counter()
server = MockServer().start()
elapsed = time.perf_counter() - started
server.stop()
print(elapsed)
"""


def fixture_start(runs: int) -> tuple[list[float], str]:
    """benchmarks/plugin_start.py when present (the pytest fixture's own path), else
    `MockServer().start()` in a fresh interpreter (imports excluded, as in a pytest run)."""
    plugin_start = ROOT / "benchmarks" / "plugin_start.py"
    if plugin_start.exists():
        out = subprocess.run([sys.executable, str(plugin_start)], cwd=ROOT, capture_output=True,
                             text=True, timeout=600)
        start = re.search(r"^\s*start\s+([\d.]+)\s*/\s*([\d.]+)", out.stdout, re.M)
        if out.returncode == 0 and start:
            median_ms, max_ms = (float(g) for g in start.groups())
            return [median_ms / 1000], f"plugin_start.py events_mock, max {max_ms:.1f}"
        print(f"  (plugin_start.py gave no 'start' figure, status {out.returncode}; "
              "measuring MockServer().start() instead)")
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", FIXTURE_START], cwd=ROOT,
                             capture_output=True, text=True, check=True, timeout=60)
        times.append(float(out.stdout.split()[-1]))
    return times, "MockServer().start()"


def contract_suite(runs: int) -> tuple[list[float], str]:
    """`pytest --pyargs contract_tests` against the in-process mock, if the suite exists."""
    if not any((ROOT / "contract_tests").glob("test_*.py")):
        return [], "contract_tests has no test modules yet: skipped"
    times, summary = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "pytest",
                              "--pyargs", "envoy_events_kit.contract_tests",
                              "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True,
                             text=True, timeout=1800)
        times.append(time.perf_counter() - started)
        lines = out.stdout.strip().splitlines()
        summary = lines[-1] if lines else f"exit status {out.returncode}"
    return times, summary


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _rps(server: Server, scenario: str) -> float:
    return median([r.rps for r in server.runs.get(scenario, [])])


def print_tables(args: argparse.Namespace, found: list[Server], loads: list[float]) -> None:
    print(f"\nwrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s, "
          f"--threads {args.threads or 'default'}, medians of {args.runs} rounds; "
          f"load average during the runs: min {min(loads):.2f} median {median(loads):.2f} "
          f"max {max(loads):.2f} on {os.cpu_count()} CPUs\n")
    head = f"{'req/s [status]':<26}" + "".join(f"{s.name:>19}" for s in found)
    print(head + "\n" + "-" * len(head))
    for scenario in SCENARIOS:
        print(f"{scenario.name:<26}" + "".join(
            f"{_rps(s, scenario.name):>13,.0f} [{s.runs[scenario.name][-1].status}]"
            for s in found))
    head = f"\n{'p50 / p99 ms':<26}" + "".join(f"{s.name:>19}" for s in found)
    print(head + "\n" + "-" * (len(head) - 1))
    for scenario in SCENARIOS:
        print(f"{scenario.name:<26}" + "".join(
            f"{median([r.p50_ms for r in s.runs[scenario.name]]):>11.1f} / "
            f"{median([r.p99_ms for r in s.runs[scenario.name]]):<5.1f}" for s in found))
    print("\n[status] = what each server answered that request; ratios below are medians "
          "of throughput.")


def targets(found: list[Server], extra: dict[str, float]) -> list[tuple[str, float, str]]:
    """The issue's targets as (what, measured, target) from this one run."""
    by = {s.name: s for s in found}
    mock, rows = by["mock"], []

    def ratio(label: str, scenario: str, other: str, other_scenario: str, goal: float) -> None:
        if other in by and scenario in mock.runs and other_scenario in by[other].runs:
            rows.append((label, _rps(mock, scenario) / _rps(by[other], other_scenario),
                         f">= {goal}x"))

    ratio("connection_token: mock / prism-quiet", "connection_token", "prism-quiet",
          "connection_token", 1.4)
    ratio("connection_token: mock / prism", "connection_token", "prism", "connection_token",
          2.5)
    ratio("connection_token: mock / baseline (same server)", "connection_token", "baseline",
          "connection_token", 0.7)
    ratio("connection_token: mock / mock-waitress", "connection_token", "mock-waitress",
          "connection_token", 1.0)
    if "connection_token" in mock.runs:
        rows.append(("connection_token: mock p99 (ms)",
                     median([r.p99_ms for r in mock.runs["connection_token"]]), "<= 10"))
    ratio("subscription JSON body: mock / prism-quiet ?channel=", "subscription granted",
          "prism-quiet", "subscription ?channel=", 1.0)
    ratio("subscription JSON body: mock / prism JSON body", "subscription granted", "prism",
          "subscription granted", 2.0)
    ratio("subscription JSON body: mock / prism ?channel=", "subscription granted", "prism",
          "subscription ?channel=", 2.0)
    for key, goal in (("cold start, mock (s)", "<= 0.5"), ("RSS after the load, mock (MB)",
                      "<= 60"), ("fixture start (ms)", "<= 50")):
        if key in extra:
            rows.append((key, extra[key], goal))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-prism", dest="prism", action="store_false",
                        help=f"leave out Prism {PRISM_VERSION} (which needs Node.js)")
    parser.add_argument("--runs", type=int, default=3, help="rounds (medians are quoted)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="Python threads of the mocks and baselines (default: each "
                             "server's own default)")
    parser.add_argument("--suite-runs", type=int, default=3,
                        help="runs of the contract suite (0: skip)")
    parser.add_argument("--only", default="",
                        help="comma-separated scenario names to load (default: all)")
    args = parser.parse_args(argv)
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        SCENARIOS[:] = [s for s in SCENARIOS if s.name in wanted]
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian/Ubuntu: `make bench-deps` "
              "(sudo apt-get install -y wrk); elsewhere see https://github.com/wg/wrk.",
              file=sys.stderr)
        return 2
    if args.prism and shutil.which("npx") is None and not PRISM_LOCAL.exists():
        print("Prism needs Node.js and npm (npx): `make interop-tools`, or --no-prism.",
              file=sys.stderr)
        return 2

    found = servers(args)
    extra: list[tuple[str, str]] = []
    figures: dict[str, float] = {}
    print("cold start to first 200 ...", flush=True)
    for server in found:
        times = cold_starts(server, max(args.runs, 5) if server.name == "mock" else args.runs)
        figures[f"cold start, {server.name} (s)"] = median(times)
        extra.append((f"cold start to first 200, {server.name} (s)",
                      f"{median(times):.3f}  (runs: {', '.join(f'{t:.3f}' for t in times)})"))

    loads: list[float] = []
    for server in found:
        server.start()
    try:
        for round_ in range(1, args.runs + 1):
            for scenario in SCENARIOS:
                print(f"round {round_}/{args.runs}: {scenario.name} ...", flush=True)
                for server in found:
                    loads.append(loadavg())
                    load = wrk(server.port, scenario, args)
                    server.runs.setdefault(scenario.name, []).append(load)
        for server in found:
            figures[f"RSS after the load, {server.name} (MB)"] = server.rss_mb()
            extra.append((f"RSS after the load, {server.name} (MB)", f"{server.rss_mb():.1f}"))
    finally:
        for server in found:
            server.stop()

    print("pytest fixture start ...", flush=True)
    times, how = fixture_start(max(args.runs, 5))
    figures["fixture start (ms)"] = median(times) * 1000
    extra.append((f"fixture start, {how} (ms)", f"{median(times) * 1000:.1f}  "
                  f"(runs: {', '.join(f'{t * 1000:.1f}' for t in times)})"))
    if args.suite_runs:
        print("contract suite ...", flush=True)
        times, summary = contract_suite(args.suite_runs)
        value = f"{median(times):.1f}  ({summary})" if times else summary
        extra.append(("contract suite, in-process mock (s)", value))
    loads.append(loadavg())
    print_tables(args, found, loads)
    print()
    for label, value in extra:
        print(f"{label:<46} {value}")
    print("\nTargets, from this run:")
    for label, measured, goal in targets(found, figures):
        print(f"  {label:<54} {measured:>8.2f}   target {goal}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
