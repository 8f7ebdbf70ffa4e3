"""Every `ENVOY_EVENTS_*` environment variable the kit reads, in one list.

A variable with the prefix that is not in the list is a typo (`ENVOY_EVENTS_BASE_URLL`): a run
that ignored it would quietly test something else (the built-in mock instead of staging), so
`envoy-events contract` refuses to start and says which name was meant. Add a new variable
here in the same commit that starts reading it (tests/test_environment.py checks the whole
repository against this list).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from envoy_events_kit.names import did_you_mean

PREFIX = "ENVOY_EVENTS_"

#: name -> who reads it.
KNOWN: dict[str, str] = {
    "ENVOY_EVENTS_BASE_URL": "contract suite, pytest plugin: the deployment to test",
    "ENVOY_EVENTS_TOKEN": "contract suite, pytest plugin: bearer token for the base URL",
    "ENVOY_EVENTS_ADMIN_TOKEN": "contract suite: token with the provisioning scope",
    "ENVOY_EVENTS_EXPIRED_TOKEN": "contract suite: an expired bearer token",
    "ENVOY_EVENTS_JWT_SECRET": "contract suite: the target's HS256 signing secret",
    "ENVOY_EVENTS_REALTIME_URL": "contract suite, envoy-events parity: the target's realtime "
                                 "server",
    "ENVOY_EVENTS_REQUIRE_REALTIME": "contract suite: fail when a realtime rule is not checked",
    "ENVOY_EVENTS_REPORT": "contract suite: directory for the JUnit and Markdown report",
    "ENVOY_EVENTS_ALLOW_DESTRUCTIVE": "contract suite: permit provision/deprovision",
    "ENVOY_EVENTS_MAX_EXAMPLES": "contract suite: Hypothesis examples per generated test",
    "ENVOY_EVENTS_RATE_LIMIT": "contract suite: request rate against a deployment",
    "ENVOY_EVENTS_TIMEOUT": "contract suite: per-request timeout",
    "ENVOY_EVENTS_FROM_CLI": "contract suite: set by `envoy-events contract` for its child",
    "ENVOY_EVENTS_FIXTURES": "pytest plugin: fixtures file of events_mock",
    "ENVOY_EVENTS_SECRET": "mock, pytest plugin: HS256 signing secret",
    "ENVOY_EVENTS_CLOCK": "pytest plugin: clock of events_mock",
    "ENVOY_EVENTS_CONTROL_TOKEN": "mock, pytest plugin, contract suite: control API token",
    "ENVOY_EVENTS_UPSTREAM": "envoy-events proxy: the deployment it forwards to",
    "ENVOY_EVENTS_CENTRIFUGO": "mock --realtime: the Centrifugo binary",
    "ENVOY_EVENTS_CACHE_DIR": "the kit's cache directory (Centrifugo, parsed YAML)",
    "ENVOY_EVENTS_SOAK_SECONDS": "the kit's own soak test: how long it runs",
    "ENVOY_EVENTS_SCREENSHOTS": "the kit's own dashboard browser test: where screenshots go",
}


def unknown(environ: Mapping[str, str] | None = None) -> list[str]:
    """The `ENVOY_EVENTS_*` names set in `environ` that the kit does not read, sorted."""
    names = os.environ if environ is None else environ
    return sorted(n for n in names if n.startswith(PREFIX) and n not in KNOWN)


def problem(environ: Mapping[str, str] | None = None) -> str | None:
    """One sentence naming every unknown variable with the closest known one, or None.

    Only names are printed, never values (a value may be a token)."""
    found = unknown(environ)
    if not found:
        return None
    return "; ".join(did_you_mean("environment variable", name, KNOWN) for name in found)
