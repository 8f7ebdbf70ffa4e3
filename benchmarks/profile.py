"""Where a request's time goes: py-spy samples `envoy-events mock` (GIL holder only) while wrk
loads one endpoint, then prints the functions with the largest share of the samples.

    pip install -e '.[bench]'   # py-spy
    python benchmarks/profile.py [--path /events/connection_token] [--seconds 8]
    python benchmarks/profile.py --path /events/subscription_token \
        --body '{"channel": "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa"}'

py-spy needs ptrace rights (root, or kernel.yama.ptrace_scope=0).
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ADMIN, BIN, Scenario, free_port, wait_for_200  # noqa: E402


def shares(raw: Path, top: int) -> list[tuple[float, str]]:
    """Inclusive share of samples per function, from py-spy's collapsed-stack output."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        for frame in {f.rsplit(":", 1)[0] for f in stack.split(";")}:
            inclusive[frame] += n
    return [(100 * n / total, frame) for frame, n in inclusive.most_common(top)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/events/connection_token")
    parser.add_argument("--body", help="JSON body to send with every request")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if py_spy is None or shutil.which("wrk") is None:
        print("needs py-spy (pip install -e '.[bench]') and wrk (make bench-deps)",
              file=sys.stderr)
        return 2
    port = free_port()
    mock = subprocess.Popen([str(BIN / "envoy-events"), "mock", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_200(port, mock, timeout=30)
        script = Path(tempfile.mkdtemp()) / "request.lua"
        script.write_text(Scenario("profile", args.path, ADMIN, json.loads(args.body)
                                   if args.body else None).lua())
        load = subprocess.Popen(
            ["wrk", "-t2", "-c16", f"-d{args.seconds + 3}s", "-s", str(script),
             f"http://127.0.0.1:{port}{args.path}"], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        with tempfile.TemporaryDirectory() as scratch:
            raw = Path(scratch) / "profile.txt"
            subprocess.run([py_spy, "record", "--gil", "-p", str(mock.pid), "-d",
                            str(args.seconds), "-r", "200", "-f", "raw", "-o", str(raw)],
                           check=True, capture_output=True)
            figures = shares(raw, args.top)
        print(load.communicate()[0].strip().splitlines()[-2])
    finally:
        mock.terminate()
        mock.wait()
    print(f"\nshare of GIL-holding samples (inclusive), {args.path}:")
    for share, frame in figures:
        print(f"{share:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
