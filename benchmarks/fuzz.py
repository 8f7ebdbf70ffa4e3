"""`make fuzz`: stock Schemathesis CLI, all checks, positive and negative data, against the
strict mock over HTTP, until at least N requests were generated; then the mock's own journal
is the witness: how many requests arrived and that none was answered with a 5xx.

`--api control` (and `--api all`, the default) also runs it over the mock's control API spec
(`openapi/mock-control.yaml`) with the hooks of benchmarks/control_fuzz_hooks.py: the mock is
reset before each call and a 4xx must change nothing; the hooks count every status.

Run `python benchmarks/fuzz.py --requests 10000` (defaults) or a short version in CI.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from envoy_events_kit.mock_server import MockServer

from envoy_events_kit import control_spec_path, spec_path

HERE = Path(__file__).resolve().parent
#: The control fuzz runs on a frozen clock, so that event ids are repeatable.
FROZEN_AT = "2026-01-01T00:00:00Z"
#: Checks of the control run. Not positive_data_acceptance: data the schema admits can be a 400
#: for what a schema cannot say (an unknown event type, a non-loopback webhook URL, an instant
#: outside the clock's window), and that check accepts no 400 at all.
CONTROL_EXCLUDED = "positive_data_acceptance"
ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def journal(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/__mock__/journal", timeout=60) as response:
        return json.load(response)["entries"]


def schemathesis(url: str, args: argparse.Namespace, max_time: int) -> tuple[int, str]:
    command = [str(SCHEMATHESIS), "run", str(spec_path()), "--url", url,
               "-H", f"Authorization: Bearer {ADMIN}", "--checks", "all", "--mode", "all",
               "--max-examples", str(args.max_examples), "--workers", str(args.workers),
               "--generation-database", "none", "--no-color"]
    if max_time:  # fuzzing and stateful phases repeat until the time is spent
        command += ["--max-time", str(max_time)]
    if args.phases:
        command += ["--phases", args.phases]
    with tempfile.TemporaryDirectory() as scratch:  # its crash cache and reports go there
        # The hook keeps "positive" cases to one channel (body and ?channel= agree), as the
        # spec's rule says; docs/spec-and-interop.md.
        env = {**os.environ,
               "SCHEMATHESIS_HOOKS": "envoy_events_kit.contract_tests.schemathesis_hooks"}
        out = subprocess.run(command, capture_output=True, text=True, cwd=scratch, env=env)
    return out.returncode, out.stdout + out.stderr


def control(args: argparse.Namespace, budget: float) -> int:
    """The control API's own spec against a live mock: exit status and the statuses seen."""
    with tempfile.TemporaryDirectory() as scratch, \
            MockServer({"strict": True, "clock": FROZEN_AT}, server=args.server) as server:
        report = Path(scratch, "statuses.json")
        command = [str(SCHEMATHESIS), "run", str(control_spec_path()), "--url", server.url,
                   "--checks", "all", "--exclude-checks", CONTROL_EXCLUDED, "--mode", "all",
                   "--max-examples", str(args.control_max_examples), "--workers", "1",
                   "--generation-database", "none", "--no-color"]
        if args.max_time:
            command += ["--max-time", str(int(min(args.max_time, budget)))]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "control_fuzz_hooks",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE),
                                                           os.environ.get("PYTHONPATH")])),
               "CONTROL_FUZZ_URL": server.url, "CONTROL_FUZZ_REPORT": str(report)}
        started = time.monotonic()
        out = subprocess.run(command, capture_output=True, text=True, cwd=scratch, env=env)
        output = out.stdout + out.stderr
        statuses = {int(k): v for k, v in json.loads(report.read_text()).items()} \
            if report.exists() else {}
    summary = re.search(r"Test cases:\s*\n\s*(.+)", output)
    calls = sum(statuses.values())
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"control API: exit {out.returncode}; "
          f"{summary.group(1).strip() if summary else 'no summary'}\n"
          f"{calls} control calls in {time.monotonic() - started:.0f} s; statuses: "
          f"{dict(sorted(statuses.items()))}; 5xx: {server_errors}", flush=True)
    if out.returncode != 0 or server_errors or not calls:
        print(output[-6000:])
        print("FAIL: Schemathesis found issues in the control API, or it answered a 5xx.")
        return 1
    print("OK: control API, no issue, no 5xx, every 4xx changed nothing.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000,
                        help="keep running Schemathesis until this many requests were sent")
    parser.add_argument("--max-examples", type=int, default=10_000)
    parser.add_argument("--max-time", type=int, default=240,
                        help="seconds per Schemathesis run (0: stop after --max-examples)")
    parser.add_argument("--budget", type=int, default=1800, help="seconds for the whole fuzz")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--phases", default="", help="e.g. fuzzing,stateful (default: all)")
    parser.add_argument("--server", default="granian", choices=["granian", "waitress"],
                        help="the mock's HTTP server (default: granian, as `envoy-events mock`)")
    parser.add_argument("--api", default="all", choices=["events", "control", "all"],
                        help="which spec to fuzz (default: both, the events API first)")
    parser.add_argument("--control-max-examples", type=int, default=500,
                        help="examples per control operation (the run stops at --max-time)")
    args = parser.parse_args(argv)
    if args.api == "control":
        return control(args, args.budget)
    status = events(args)
    if args.api == "all" and status == 0:
        status = control(args, args.budget)
    return status


def events(args: argparse.Namespace) -> int:
    """The events API spec, until --requests reached the mock (its journal counts them)."""
    started = time.monotonic()
    runs, failed = 0, False
    with MockServer({"strict": True, "journal_size": 10_000_000}, server=args.server) as server:
        while not failed:
            remaining = args.budget - (time.monotonic() - started)
            sent = len(journal(server.url))
            if sent >= args.requests or remaining < 5:
                break
            runs += 1
            max_time = int(min(args.max_time, remaining)) if args.max_time else 0
            status, output = schemathesis(server.url, args, max_time)
            summary = re.search(r"Test cases:\s*\n\s*(.+)", output)
            print(f"run {runs}: exit {status}; "
                  f"{summary.group(1).strip() if summary else 'no summary'}", flush=True)
            if status != 0:
                failed = True
                print(output[-6000:])
        entries = journal(server.url)
    statuses = collections.Counter(e["status"] for e in entries)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    elapsed = time.monotonic() - started
    print(f"\n{len(entries)} requests reached the mock in {runs} Schemathesis run(s), "
          f"{elapsed:.0f} s; statuses: {dict(sorted(statuses.items()))}; 5xx: {server_errors}")
    if failed or server_errors:
        print("FAIL: Schemathesis found issues or the mock answered a 5xx.")
        return 1
    if len(entries) < args.requests:
        print(f"FAIL: only {len(entries)} of {args.requests} requests within the budget.")
        return 1
    print("OK: no issue, no 5xx.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
