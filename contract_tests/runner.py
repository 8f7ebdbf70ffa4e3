"""`envoy-events contract`: run the contract suite (pytest) against a URL or the mock.

pytest runs in a child process (so the suite's modules are imported, and assert-rewritten,
by pytest alone). Secrets travel through the child's environment rather than its argv, so
they never show in pytest's own output, `ps`, or a JUnit report; the exit status is pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

#: CLI option -> environment variable the suite reads (secrets go this way).
SECRET_ENV = {
    "token": "ENVOY_EVENTS_TOKEN",
    "admin_token": "ENVOY_EVENTS_ADMIN_TOKEN",
    "expired_token": "ENVOY_EVENTS_EXPIRED_TOKEN",
    "jwt_secret": "ENVOY_EVENTS_JWT_SECRET",
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
            "-p", "no:cacheprovider", "--assert=plain"]
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
    """Run the suite in a child pytest; returns its exit status."""
    env = {**os.environ, **secret_env(secrets)}
    command = [sys.executable, "-m", "pytest", *pytest_args(**options)]
    return subprocess.call(command, env=env)
