"""examples/consumer_suite, run as its own project against the installed plugin: plain and
under pytest-xdist (each worker its own mock)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "consumer_suite"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "ENVOY_EVENTS_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=EXAMPLE, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_example_uses_the_kit_only_through_its_plugin():
    sources = "\n".join(p.read_text() for p in EXAMPLE.rglob("*.py"))
    assert not re.search(r"^\s*(from|import)\s+(mock_server|envoy_events_kit|contract_tests)\b",
                         sources, re.MULTILINE)
    assert "pytest_plugins" not in sources
    assert "events_mock" in sources


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["plain", "xdist-2"])
def test_consumer_suite_passes(args):
    result = run_example(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b8 passed\b", result.stdout), result.stdout
