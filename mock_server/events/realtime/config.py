"""Centrifugo's configuration, generated from the mock's settings and fixtures.

What it must get right (each is tested against the real server):
- the HMAC key is the mock's signing secret, so the mock's tokens are accepted;
- one namespace per fixture namespace (a channel of a namespace Centrifugo does not know is
  refused with 102 "unknown channel", connection tokens included);
- no namespace lets a client in without a token: `allow_user_limited_channels` and
  `allow_subscribe_for_client` stay off, so the mock's subscription endpoint is the only way
  into a channel the connection token does not grant (another org's channel, another user's
  `#` channel: 103 "permission denied");
- browser pages on any localhost port may connect (`http://localhost:*`);
- a per-run server API key, and no outbound traffic (usage stats off).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any


def new_api_key() -> str:
    """A fresh server API key for one run (never printed in full)."""
    return secrets.token_urlsafe(24)


def masked(key: str) -> str:
    return key[:4] + "…" if key else ""


def build_config(*, secret: str, namespaces: Iterable[str], port: int, api_key: str,
                 host: str = "127.0.0.1", origins: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON document Centrifugo v6 reads with `--config`; it listens on the mock's own
    host, and lets in pages from loopback hosts and the mock's `--cors-origin` ones."""
    return {
        "http_server": {"address": host, "port": port},
        "log": {"level": "warn"},
        "client": {
            "token": {"hmac_secret_key": secret},
            "allowed_origins": [
                "http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*",
                "https://localhost:*",
                *(origin.rstrip("/") for origin in origins),
            ],
        },
        "channel": {
            "namespaces": [{"name": name} for name in sorted(namespaces)],
        },
        "http_api": {"key": api_key},
        "health": {"enabled": True},
        "usage_stats": {"disabled": True},
        "shutdown": {"timeout": "3s"},
    }
