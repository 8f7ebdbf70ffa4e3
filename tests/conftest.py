"""Shared fixtures for the kit's own tests: a strict in-process mock (checked by openapi-core
too) and its fixture tokens."""

from __future__ import annotations

import pytest
from envoy_events_kit.mock_server import create_app

from tests.second_validator import attach

ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"
READER = "dev-reader-acme-8b3e6f4a1c2d9e07"
NO_SCOPES = "dev-noscope-acme-2a7c9e1b4f6d8a35"
OTHER_ORG = "dev-admin-globex-6e4d2b8f0a1c3e57"
EXPIRED = "dev-expired-acme-9f1b3d5e7c2a4b60"

ACME = "org_26ZZVNs2QURl4yY6owPARekUbMa"
GLOBEX = "org_27owyTHZIhhFrII3bP5tqKmc9Vo"
ADA = "usr_26ZZVRrmnPTXTcZIuzXLZdnigLW"
RITA = "usr_27owyeeNEYU0sTDZWYnFg5PCMDZ"
GRACE = "usr_2D5rtQ8vjKZs7bseYmdHYlQU5AO"
FROZEN_AT = "2026-01-01T00:00:00Z"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def app():
    """A strict mock: any response that breaks the spec raises in the test."""
    app = create_app({"strict": True, "clock": FROZEN_AT})
    app.testing = True
    return attach(app)  # openapi-core checks every events exchange too


@pytest.fixture
def client(app):
    return app.test_client()
