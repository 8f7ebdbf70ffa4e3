"""`envoy-events contract`: run the contract suite (pytest) against a URL or the mock.

pytest runs in a child process (so the suite's modules are imported, and assert-rewritten,
by pytest alone). Secrets travel through the child's environment rather than its argv, so
they never show in pytest's own output, `ps`, or a JUnit report. The CLI prints the first
line (which target), passes the child's output through redacted, and prints the closing line
(the verdict) from the summary the child writes; the exit status is the verdict's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from envoy_events_kit.contract_tests.junit import write_stopped
from envoy_events_kit.contract_tests.report import write as write_report
from envoy_events_kit.contract_tests.verdict import (
    PREFIX,
    WORDS,
    Verdict,
    closing_line,
    first_line,
    stopped_line,
)

from envoy_events_kit.redaction import Redactor

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
                summary: str | None = None, require_realtime: bool = False,
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
    if summary:
        args += ["--events-summary", summary]
    if require_realtime:
        args.append("--events-require-realtime")
    if not any(a == "--tb" or a.startswith("--tb=") for a in extra):
        args.append("--tb=short")  # a long traceback shows each frame's arguments
    return args + list(extra)


def secret_env(secrets: Mapping[str, str | None]) -> dict[str, str]:
    """Environment variables carrying the given secrets (unset ones left out)."""
    return {SECRET_ENV[name]: value for name, value in secrets.items() if value}


#: pytest-xdist's options: the suite refuses them (one process against one target).
_XDIST = re.compile(r"^(-n|--numprocesses|--dist|-d|--tx|--maxprocesses)(=.*|\d+|auto)?$")


def refused_pytest_args(extra: Sequence[str]) -> str | None:
    """Why the pytest arguments after `--` cannot be used, or None."""
    for arg in extra:
        if _XDIST.match(arg) and arg not in ("-n0", "--numprocesses=0"):
            return (f"{arg} (pytest-xdist) is not supported: the suite runs in one process "
                    "against one target, whose state its tests change; run it without -n")
    return None


def redactor(secrets: Mapping[str, str | None]) -> Redactor:
    """What the CLI knows is secret: the given secrets and the bundled fixture tokens."""
    from envoy_events_kit.contract_tests.target import bundled_fixture_tokens

    return Redactor([*secrets.values(), *bundled_fixture_tokens().values()])


def run(*, secrets: Mapping[str, str | None], report: str | None = None,
        require_realtime: bool = False, **options) -> int:
    """Run the suite in a child pytest, its output passed through (redacted; a stop's reason
    printed plainly), then the closing line; returns the exit status (0 kept, 1 broken, 2
    usage, 3 could not check). A run that cannot start still leaves a JUnit report that
    shows the failure."""
    redact = redactor(secrets)
    junit = options.get("junit_xml")
    if report and not junit:
        Path(report).mkdir(parents=True, exist_ok=True)
        junit = options["junit_xml"] = str(Path(report) / "junit.xml")
    print(first_line(options.get("base_url")), flush=True)
    env = {**os.environ, **secret_env(secrets), "ENVOY_EVENTS_FROM_CLI": "1"}
    with tempfile.TemporaryDirectory(prefix="envoy-events-contract-") as scratch:
        summary = Path(scratch) / "verdict.json"
        args = pytest_args(**options, summary=str(summary), require_realtime=require_realtime)
        status, reason = _run_child([sys.executable, "-m", "pytest", *args], env, redact)
        found = Verdict.from_json(summary.read_text()) if summary.is_file() else None
    status = _exit_status(status)
    if junit and Path(junit).is_file():
        Path(junit).write_text(redact(Path(junit).read_text(encoding="utf-8")),
                               encoding="utf-8")
    if status == UNREACHABLE_EXIT and reason:
        if junit:
            write_stopped_report(junit, redact(reason))
        print(stopped_line(redact(reason)), flush=True)
    elif found is not None:
        found.exit_status = status
        print(redact(closing_line(found)), flush=True)
        if report:
            write_report(report, found, junit, redact)
    else:  # the child died before its verdict (pytest's internal error, a kill)
        print(f"{PREFIX} {WORDS.get(status, 'FAILED')} (exit {status}): the suite ended "
              "without a verdict (see its output above)", flush=True)
    return status


def _run_child(command: list[str], env: dict[str, str], redact: Redactor
               ) -> tuple[int, str | None]:
    reason = None
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, bufsize=1) as child:
        assert child.stdout is not None and child.stderr is not None
        errors = threading.Thread(target=_pass_through, args=(child.stderr, sys.stderr, redact),
                                  daemon=True)
        errors.start()
        for raw in child.stdout:
            line = redact(cli_words(raw))
            stopped = _EXIT_LINE.match(line.rstrip("\n"))
            if stopped:  # said once, as the closing line
                reason = stopped.group(1)
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
        errors.join(timeout=10)
    return child.returncode, reason


def _pass_through(source: IO[str], sink: IO[str], redact: Redactor) -> None:
    """The child's stderr (warnings, logging) goes out redacted too."""
    for line in source:
        sink.write(redact(line))
        sink.flush()


def _exit_status(pytest_status: int) -> int:
    """pytest's usage error is the CLI's (2); "no tests ran" checked nothing (3)."""
    return {4: 2, 5: UNREACHABLE_EXIT}.get(pytest_status, pytest_status)


def cli_words(text: str) -> str:
    """The suite's option names as the CLI spells them: --token, not --events-token."""
    return re.sub(r"--events-([a-z-]+)", r"--\1", text)


def write_stopped_report(path: str, reason: str) -> None:
    """A JUnit file with one errored test saying why the run stopped before testing."""
    write_stopped(path, SUITE_NAME, reason)
