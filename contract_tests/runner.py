"""`envoy-events contract`: run the contract suite (pytest) against a URL or the mock.

pytest runs in a child process (so the suite's modules are imported, and assert-rewritten,
by pytest alone). Secrets travel through the child's environment rather than its argv, so
they never show in pytest's own output, `ps`, or a JUnit report; the exit status is pytest's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

SUITE_NAME = "envoy-events-contract"
#: The exit status of a run that could not start (the suite's conftest uses the same).
UNREACHABLE_EXIT = 3
#: How pytest prints `pytest.exit(reason)`; the runner prints the reason plainly instead.
_EXIT_LINE = re.compile(r"^!+ _pytest\.outcomes\.Exit: (.*?) !+$")

#: CLI option -> environment variable the suite reads (secrets go this way).
SECRET_ENV = {
    "token": "ENVOY_EVENTS_TOKEN",
    "admin_token": "ENVOY_EVENTS_ADMIN_TOKEN",
    "expired_token": "ENVOY_EVENTS_EXPIRED_TOKEN",
    "jwt_secret": "ENVOY_EVENTS_JWT_SECRET",
    "control_token": "ENVOY_EVENTS_CONTROL_TOKEN",
}


def pytest_args(*, base_url: str | None = None, realtime_url: str | None = None,
                allow_destructive: bool = False,
                max_examples: int | None = None, rate_limit: str | None = None,
                timeout: float | None = None, junit_xml: str | None = None,
                extra: Sequence[str] = ()) -> list[str]:
    """The pytest command line for the suite (no secrets in it)."""
    # --assert=plain: the suite reports through rule messages, never bare asserts, and
    # rewriting the Schemathesis/Hypothesis plugins' modules costs seconds per start.
    args = ["--pyargs", "envoy_events_kit.contract_tests",
            "-p", "no:cacheprovider", "--assert=plain",
            "-o", f"junit_suite_name={SUITE_NAME}", "-o", "junit_family=xunit2"]
    if base_url:
        args += ["--events-base-url", base_url]
    if realtime_url:
        args += ["--events-realtime-url", realtime_url]
    if allow_destructive:
        args.append("--events-allow-destructive")
    if max_examples is not None:
        args += ["--events-max-examples", str(max_examples)]
    if rate_limit:
        args += ["--events-rate-limit", rate_limit]
    if timeout is not None:
        args += ["--events-timeout", str(timeout)]
    if junit_xml:
        args += ["--junit-xml", junit_xml]
    return args + list(extra)


def secret_env(secrets: Mapping[str, str | None]) -> dict[str, str]:
    """Environment variables carrying the given secrets (unset ones left out)."""
    return {SECRET_ENV[name]: value for name, value in secrets.items() if value}


def run(*, secrets: Mapping[str, str | None], **options) -> int:
    """Run the suite in a child pytest, its output passed through (a stop's reason printed
    plainly); returns its exit status. A run that cannot start still leaves a JUnit report
    that shows the failure."""
    env = {**os.environ, **secret_env(secrets), "ENVOY_EVENTS_FROM_CLI": "1"}
    command = [sys.executable, "-m", "pytest", *pytest_args(**options)]
    reason = None
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                          bufsize=1) as child:
        assert child.stdout is not None
        for raw in child.stdout:
            line = cli_words(raw)
            stopped = _EXIT_LINE.match(line.rstrip("\n"))
            if stopped:
                reason = stopped.group(1)
                line = reason + "\n"
            sys.stdout.write(line)
            sys.stdout.flush()
    if child.returncode == UNREACHABLE_EXIT and options.get("junit_xml"):
        write_stopped_report(options["junit_xml"], reason or "the run could not start")
    return child.returncode


def cli_words(text: str) -> str:
    """The suite's option names as the CLI spells them: --token, not --events-token."""
    return re.sub(r"--events-([a-z-]+)", r"--\1", text)


def write_stopped_report(path: str, reason: str) -> None:
    """A JUnit file with one failed test saying why the run stopped before testing, so a CI
    report does not read `tests=0 failures=0`."""
    suite = ET.Element("testsuite", name=SUITE_NAME, tests="1", failures="0", errors="1",
                       skipped="0")
    case = ET.SubElement(suite, "testcase", classname=SUITE_NAME, name="reach the target")
    ET.SubElement(case, "error", message=reason).text = reason
    root = ET.Element("testsuites", name=SUITE_NAME)
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
