"""An endpoint's `whsec_` secret: derived from the seed when none is given, and checked with
the signing library wherever one comes in (control API, fixtures, snapshots, state files), so
that a secret the library cannot sign with never reaches a delivery worker.

Where an endpoint may point is `targets`' business.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

SECRET_BYTES = 32
#: Standard Webhooks asks for 24 to 64 random bytes; fewer is refused.
MIN_SECRET_BYTES = 24


def derived_secret(seed: str, endpoint_id: str) -> str:
    """A `whsec_` secret from the mock's seed and the endpoint id: the same on every run."""
    digest = hashlib.sha256(f"{seed}:whsec:{endpoint_id}".encode()).digest()[:SECRET_BYTES]
    return "whsec_" + base64.b64encode(digest).decode()


def secret_problem(secret: object) -> str | None:
    """Why `secret` cannot sign deliveries, or None. Never says what the secret is."""
    from standardwebhooks import Webhook

    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        return "must be `whsec_` followed by base64"
    try:
        Webhook(secret).sign("msg_check", datetime.now(UTC), "{}")
    except Exception:  # binascii.Error, EmptyWebhookSecretError, ...
        return "`whsec_` must be followed by base64 the signing library can decode"
    decoded = len(base64.b64decode(secret.removeprefix("whsec_") + "=="))
    if decoded < MIN_SECRET_BYTES:
        return (f"decodes to {decoded} bytes; Standard Webhooks secrets are "
                f"{MIN_SECRET_BYTES} to 64 bytes")
    return None
