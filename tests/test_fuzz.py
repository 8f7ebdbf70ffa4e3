"""A short `make fuzz` for CI: the stock Schemathesis CLI, all checks, positive and negative
data, against the strict mock over HTTP; no issue and no 5xx in the mock's journal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz.py"


@pytest.mark.slow
def test_a_short_schemathesis_cli_run_finds_no_issue_and_no_5xx():
    out = subprocess.run(
        [sys.executable, str(FUZZ), "--api", "events", "--requests", "1", "--max-examples", "25",
         "--phases", "examples,fuzzing,stateful", "--max-time", "0", "--workers", "1"],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    requests, five_xx = re.search(r"(\d+) requests reached the mock.*5xx: (\d+)",
                                  out.stdout).groups()
    assert int(five_xx) == 0
    assert int(requests) >= 50, out.stdout  # it really fuzzed
