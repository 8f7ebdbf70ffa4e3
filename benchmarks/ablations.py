"""What each optimisation buys, side by side in one run: wrk against `envoy-events mock`
(real clock, Granian) as shipped, and in variants patched in their own process:

  + token memo          an LRU memo of signed tokens (the kit had one and dropped it: with
                        a real clock it hits only the same principal asking again within
                        one second, which a benchmark does on every request and an
                        ordinary client almost never does);
  + compiled validator  jsonschema-rs's yes/no in front of jsonschema (only "valid" is
                        trusted; anything else goes to jsonschema for the verdict and the
                        message). Tried and dropped: it buys ~10 % on the JSON-body path and
                        costs ~10 MB resident, the memory budget's margin; the RSS column
                        shows it. (jsonschema-rs comes with the contract extra.)

    .venv/bin/python benchmarks/ablations.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import SCENARIOS, Server, loadavg, wrk  # noqa: E402

PATCHES = {
    "+ token memo": """
from functools import lru_cache
from envoy_events_kit.mock_server.api import tokens
init = tokens.Minter.__init__
def memoised(self, *args, **kwargs):
    init(self, *args, **kwargs)
    self._sign_json = lru_cache(maxsize=1024)(self._sign_json)  # same claims, same bytes
tokens.Minter.__init__ = memoised
""",
    "+ compiled validator": """
import jsonschema_rs
from envoy_events_kit.mock_server import spec
class Compiled:
    def __init__(self, reference):
        self.reference, self.schema = reference, reference.schema
        self.fast = jsonschema_rs.validator_for(self.schema, validate_formats=False).is_valid
    def iter_errors(self, instance):
        try:
            if self.fast(instance):
                return iter(())
        except Exception:
            pass
        return self.reference.iter_errors(instance)
plain = spec.Spec.validator
def compiled(self, schema, inline=True):
    validator = plain(self, schema, inline)
    try:
        return Compiled(validator) if inline else validator
    except Exception:  # a schema it cannot compile (registry refs): jsonschema alone
        return validator
spec.Spec.validator = compiled
""",
}
LAUNCH = """
import sys
{patch}
from envoy_events_kit.cli import main
sys.argv = ["envoy-events", *sys.argv[1:]]
main()
"""


class Args:
    wrk_threads, connections, duration = 2, 16, 5


def _variant(name: str, patch: str) -> Server:
    code = LAUNCH.format(patch=patch)
    return Server(name, lambda port: [sys.executable, "-c", code, "mock", "--clock", "real",
                                      "--port", str(port)])


def main(rounds: int = 3) -> None:
    variants = [_variant("as shipped", "")] + [_variant(n, p) for n, p in PATCHES.items()]
    wanted = [s for s in SCENARIOS if s.name in ("connection_token", "subscription granted")]
    loads = []
    for server in variants:
        server.start()
    try:
        for _ in range(rounds):
            for scenario in wanted:
                for server in variants:
                    loads.append(loadavg())
                    server.runs.setdefault(scenario.name, []).append(
                        wrk(server.port, scenario, Args))
        rss = [server.rss_mb() for server in variants]
    finally:
        for server in variants:
            server.stop()
    print(f"\nablations, real clock, wrk -t2 -c16 -d5s, medians of {rounds}; load average "
          f"median {statistics.median(loads):.2f}")
    print(f"{'':<22}" + "".join(f"{s.name:>24}" for s in variants))
    for scenario in wanted:
        rps = [statistics.median(r.rps for r in s.runs[scenario.name]) for s in variants]
        print(f"{scenario.name:<22}" + "".join(
            f"{value:>12,.0f} req/s {value / rps[0]:>5.2f}x" for value in rps))
    print(f"{'RSS after the load':<22}" + "".join(f"{mb:>17.1f} MB  " for mb in rss))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
