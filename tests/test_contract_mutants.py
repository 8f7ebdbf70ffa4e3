"""Proof of power: the contract suite passes on a conforming server and fails, naming the
broken rule, on each deliberately broken one (tests/broken_servers).

Every server is served on a loopback port and the suite runs against it exactly as CI would
run it against staging: `envoy-events contract --base-url ... --token ...` in a child
process. The runs go two at a time to keep `make test` short.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from broken_servers import MUTANTS, serve
from broken_servers.base import ADMIN, DEV_SECRET, EXPIRED, Broken
from envoy_events_kit.mock_server import create_app

MAX_EXAMPLES = 10
WORKERS = 2
CONFORMING = "conforming"


@dataclass
class Outcome:
    returncode: int
    output: str
    seconds: float
    junit: str = ""


def run_contract(*args: str) -> Outcome:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "envoy_events_kit.cli", "contract", *args],
                          capture_output=True, text=True, timeout=600)
    return Outcome(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def against(url: str, *extra: str) -> Outcome:
    return run_contract("--base-url", url, "--token", ADMIN, "--admin-token", ADMIN,
                        "--expired-token", EXPIRED, "--jwt-secret", DEV_SECRET,
                        "--allow-destructive", "--max-examples", str(MAX_EXAMPLES),
                        *extra, "--", "-p", "no:randomly")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory,
             pytestconfig: pytest.Config) -> dict[str, Outcome]:
    """Serve every broken server and a conforming one; run the suite against each."""
    reports = tmp_path_factory.mktemp("junit")
    servers = {name: serve(cls(create_app({"clock": "real"})))
               for name, cls in {CONFORMING: Broken, **MUTANTS}.items()}
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            jobs = {name: pool.submit(against, served.url,
                                      "--junit-xml", str(reports / f"{name}.xml"))
                    for name, served in servers.items()}
            results = {name: job.result() for name, job in jobs.items()}
    finally:
        for served in servers.values():
            served.stop()
    for name, outcome in results.items():
        outcome.junit = (reports / f"{name}.xml").read_text()
    killed = [name for name in MUTANTS if killed_with_rule(name, results[name])]
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\ncontract suite mutation score: {len(killed)}/{len(MUTANTS)} "
                            f"broken servers killed; runs took "
                            f"{sum(o.seconds for o in results.values()):.0f} s in all, the "
                            f"slowest {max(o.seconds for o in results.values()):.1f} s")
    return results


def killed_with_rule(name: str, outcome: Outcome) -> bool:
    """Exit 1 and a `rule <name>:` line of the suite naming one of the expected rules."""
    names = "|".join(re.escape(rule) for rule in MUTANTS[name].expect)
    return outcome.returncode == 1 and re.search(rf"\brule ({names}):", outcome.output) \
        is not None


def test_there_are_at_least_twelve_distinct_broken_servers() -> None:
    assert len(MUTANTS) >= 12
    assert len({cls.breaks for cls in MUTANTS.values()}) == len(MUTANTS)
    assert all(cls.expect for cls in MUTANTS.values())
    # Kill evidence is a rule of the suite, never a generic Schemathesis phrase.
    assert all(re.fullmatch(r"[a-z0-9-]+", rule) for cls in MUTANTS.values()
               for rule in cls.expect)


def test_the_conforming_server_passes(outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[CONFORMING]
    assert outcome.returncode == 0, outcome.output[-4000:]
    assert f"{MAX_EXAMPLES} examples per generated test" in outcome.output


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_suite_kills_the_broken_server_and_names_the_rule(
        outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    assert outcome.returncode == 1, (
        f"{name} ({MUTANTS[name].breaks}) survived:\n{outcome.output[-3000:]}")
    assert killed_with_rule(name, outcome), (
        f"{name}: the output names none of {MUTANTS[name].expect}:\n{outcome.output[-3000:]}")


def test_no_run_prints_a_bearer_token(outcomes: dict[str, Outcome]) -> None:
    """Neither the output nor the JUnit report, also of failing runs."""
    for name, outcome in outcomes.items():
        assert outcome.junit.startswith("<?xml"), name
        for secret in (ADMIN, EXPIRED, DEV_SECRET):
            assert secret not in outcome.output, f"the {name} run printed a secret"
            assert secret not in outcome.junit, f"the {name} report holds a secret"


def test_junit_report_carries_the_drift_summary(outcomes: dict[str, Outcome]) -> None:
    root = ET.fromstring(outcomes[CONFORMING].junit)
    properties = {p.get("name"): p.get("value") for p in root.iter("property")
                  if p.get("name", "").startswith("x-assumed ")}
    assert properties["x-assumed Unauthorized"] == "held"
    assert properties["x-assumed getSubscriptionToken ?channel="] == "held"
    # Every row but the realtime ones (no realtime server here) held, mock-only ones too.
    held = {k: v for k, v in properties.items() if "realtime" not in k}
    assert len(held) == 17 and set(held.values()) == {"held"}, properties
    assert set(properties.values()) - set(held.values()) == {"not checked"}


def test_drift_summary_is_printed(outcomes: dict[str, Outcome]) -> None:
    assert "x-assumed behaviours (drift summary)" in outcomes[CONFORMING].output
    broken = outcomes["accepts-disagreeing-query"].output
    row = next(r for r in broken.splitlines() if r.startswith("getSubscriptionToken ?channel="))
    assert "BROKEN" in row
