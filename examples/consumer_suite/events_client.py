"""The code under test: how a service of ours gets a realtime subscription token.

It knows nothing about envoy-events-kit; the tests point it at the kit's mock.
"""

from __future__ import annotations

import requests


class EventsError(Exception):
    """The events API refused; `status` and `code` say why."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code


def subscription_token(base_url: str, token: str, channel: str, *, retries: int = 1) -> str:
    """A subscription JWT for `channel`; retries server errors (5xx) `retries` times."""
    for attempt in range(retries + 1):
        response = requests.get(f"{base_url}/events/subscription_token",
                                params={"channel": channel},
                                headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if response.status_code < 500 or attempt == retries:
            break
    if response.status_code != 200:
        raise EventsError(response.status_code, response.json()["error"]["code"])
    return response.json()["token"]
