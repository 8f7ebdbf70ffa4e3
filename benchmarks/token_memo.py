"""Would a memo of signed tokens pay for itself? (The kit had one; this is why it went.)

Side by side in one run, wrk against `envoy-events mock` on the real clock twice: as shipped
(every token signed afresh) and with an LRU memo of signed tokens patched into `Minter` in
that process. With a real clock a hit needs the same principal, channel and second, which
the benchmark gives on every request and an ordinary client almost never does: whatever
the memo gains here is the benchmark flattering itself.

    .venv/bin/python benchmarks/token_memo.py [rounds]
"""

from __future__ import annotations

import statistics
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from bench import SCENARIOS, Server, loadavg, wrk  # noqa: E402

WITH_MEMO = """
import sys
from functools import lru_cache
from envoy_events_kit.mock_server import tokens
from envoy_events_kit.cli import main
init = tokens.Minter.__init__
def memoised(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self._sign_json = lru_cache(maxsize=1024)(self._sign_json)  # same claims, same bytes
tokens.Minter.__init__ = memoised
sys.argv = ["envoy-events", *sys.argv[1:]]
main()
"""


class Args:
    wrk_threads, connections, duration = 2, 16, 5


def main(rounds: int = 3) -> None:
    mock = [sys.executable, "-m", "envoy_events_kit.cli", "mock", "--clock", "real"]
    without = Server("without memo", lambda port: [*mock, "--port", str(port)])
    with_memo = Server("with memo", lambda port: [
        sys.executable, "-c", WITH_MEMO, "mock", "--clock", "real", "--port", str(port)])
    wanted = [s for s in SCENARIOS if s.name in ("connection_token", "subscription granted")]
    loads = []
    for server in (with_memo, without):
        server.start()
    try:
        for _ in range(rounds):
            for scenario in wanted:
                for server in (with_memo, without):
                    loads.append(loadavg())
                    server.runs.setdefault(scenario.name, []).append(
                        wrk(server.port, scenario, Args))
    finally:
        for server in (with_memo, without):
            server.stop()
    print(f"\ntoken memo, real clock, wrk -t2 -c16 -d5s, medians of {rounds}; load average "
          f"median {statistics.median(loads):.2f}")
    for scenario in wanted:
        rps = {s.name: statistics.median(r.rps for r in s.runs[scenario.name])
               for s in (with_memo, without)}
        print(f"  {scenario.name:<22} with {rps['with memo']:>8,.0f} req/s   without "
              f"{rps['without memo']:>8,.0f} req/s   with/without "
              f"{rps['with memo'] / rps['without memo']:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
