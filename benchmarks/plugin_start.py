"""How long the pytest plugin's `events_mock` takes to start and stop, per session.

Each round runs in a fresh interpreter (as a new pytest session would) and times, with
`time.perf_counter`:
  import  - first import of the mock (Flask, jsonschema, waitress...): paid once per process,
            and not at all when the host suite imports these anyway;
  start   - what the session fixture does: build the app from the bundled spec and fixtures,
            bind a free loopback port, serve in a background thread (the budget: <= 50 ms);
  stop    - close the port and join every thread.
Then the same inside real pytest sessions (`--durations`): the first test's setup pays the
lazy import and the start, the next test's setup only the reset, the last teardown the stop.

    .venv/bin/python benchmarks/plugin_start.py [rounds]
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROUND = r"""
import json, time
t0 = time.perf_counter()
from envoy_events_kit.mock_server.serving.handle import EventsMock
t1 = time.perf_counter()
mock = EventsMock.start({"clock": "2026-01-01T00:00:00Z"})
t2 = time.perf_counter()
assert mock.clock()["mode"] == "frozen"          # it answers
t3 = time.perf_counter()
mock.stop()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "start": t2 - t1, "stop": t4 - t3}))
"""


SESSION_TEST = """
def test_first(events_mock):
    pass

def test_second(events_mock):
    pass
"""


def in_pytest(rounds: int) -> list[dict[str, float]]:
    """Setup of the first test (lazy import + start + reset) and of the second (reset only),
    and the session's teardown (stop), from `pytest --durations` of a two-test session."""
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_session.py").write_text(SESSION_TEST)
        for _ in range(rounds):
            out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                  "--durations=0", "--durations-min=0", "-vv"], cwd=tmp,
                                 check=True, capture_output=True, text=True).stdout
            times = {f"{phase} {name}": float(sec) for sec, phase, name in
                     re.findall(r"([\d.]+)s (setup|teardown)\s+test_session.py::(\w+)", out)}
            samples.append({"first setup": times.get("setup test_first", 0.0),
                            "next setup": times.get("setup test_second", 0.0),
                            "teardown": times.get("teardown test_second", 0.0)})
    return samples


def show(title: str, samples: list[dict[str, float]]) -> None:
    print(title)
    for key in samples[0]:
        values = [s[key] * 1000 for s in samples]
        print(f"  {key:<12} {statistics.median(values):7.1f} / {max(values):7.1f}")


def main(rounds: int = 7) -> None:
    samples = [json.loads(subprocess.run([sys.executable, "-c", ROUND], check=True,
                                         capture_output=True, text=True).stdout)
               for _ in range(rounds)]
    show(f"events_mock in {rounds} fresh interpreters (median / max, ms):", samples)
    show(f"events_mock in {rounds} pytest sessions of two tests (median / max, ms):",
         in_pytest(rounds))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
