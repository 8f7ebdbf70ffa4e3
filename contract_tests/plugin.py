"""pytest11 entry point of envoy-events-kit.

Defines, once, the `--events-*` options shared by the integration-suite fixtures and the
contract suite. Fixtures for integration suites live here too (kept few and short).
"""

from __future__ import annotations

import pytest

#: option name -> (environment variable, help). Options without a variable take none.
OPTIONS: dict[str, tuple[str | None, str]] = {
    "--events-base-url": ("ENVOY_EVENTS_BASE_URL",
                          "Base URL of a deployment to test (default: an in-process mock)."),
    "--events-token": ("ENVOY_EVENTS_TOKEN", "Bearer token for --events-base-url."),
    "--events-admin-token": ("ENVOY_EVENTS_ADMIN_TOKEN",
                             "Bearer token of a principal with the provisioning scope."),
    "--events-expired-token": ("ENVOY_EVENTS_EXPIRED_TOKEN",
                               "An expired bearer token that the deployment must refuse (401)."),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("envoy-events", "Envoy Event Streaming API (envoy-events-kit)")
    for name, (env, text) in OPTIONS.items():
        group.addoption(name, default=None, help=f"{text} Env: {env}." if env else text)
    group.addoption("--events-allow-destructive", action="store_true", default=False,
                    help="Permit provision/deprovision against a deployment (deprovision "
                         "deletes webhook endpoints). Always on against the mock.")
    group.addoption("--events-max-examples", type=int, default=None,
                    help="Hypothesis examples per generated test (default 25).")
    group.addoption("--events-rate-limit", default=None,
                    help="Request rate limit against a deployment, e.g. 10/s (default 10/s).")
    group.addoption("--events-timeout", type=float, default=None,
                    help="Per-request timeout in seconds (default 10).")
