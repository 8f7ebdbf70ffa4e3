"""What an endpoint may be: its `whsec_` secret, and which URLs the mock will send to.

Only loopback URLs by default, so a mock cannot be turned into a request cannon; more hosts
with `--allow-webhook-host`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

SECRET_BYTES = 32


def derived_secret(seed: str, endpoint_id: str) -> str:
    """A `whsec_` secret from the mock's seed and the endpoint id: the same on every run."""
    digest = hashlib.sha256(f"{seed}:whsec:{endpoint_id}".encode()).digest()[:SECRET_BYTES]
    return "whsec_" + base64.b64encode(digest).decode()


def url_problem(url: str, allowed_hosts: Iterable[str] = ()) -> str | None:
    """Why the mock will not send to `url`, or None when it will."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"{url!r} is not a URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"{url!r} is not an http(s) URL"
    if host in set(allowed_hosts) or host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (f"{host!r} is not a loopback address: the mock only delivers to this machine "
            "unless started with --allow-webhook-host " + host)
