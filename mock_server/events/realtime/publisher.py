"""The realtime sink of the event bus: publish through Centrifugo's server API with `cent`."""

from __future__ import annotations

import contextlib
from typing import Any

from ...api.errors import ApiError

#: Close code sent to an organisation's connections when it is deprovisioned: in the
#: 4500-4999 range, which Centrifugo clients treat as terminal (no reconnect).
DEPROVISIONED_CODE = 4501
DEPROVISIONED_REASON = "organisation deprovisioned"


class RealtimePublisher:
    """Hands events to Centrifugo; disconnects a deprovisioned organisation's users."""

    name = "realtime"

    def __init__(self, api_url: str, api_key: str, timeout_s: float = 5.0) -> None:
        from cent import Client  # imported only when realtime is on: cent brings pydantic

        self._client = Client(api_url, api_key, timeout=timeout_s)

    def publish(self, event: dict[str, Any], channel: str) -> dict[str, Any]:
        from cent import CentError, PublishRequest

        try:
            self._client.publish(PublishRequest(channel=channel, data=event))
        except CentError as exc:
            raise ApiError(503, "realtime_unavailable",
                           f"The realtime server did not take the event: {exc}") from exc
        return {"channel": channel, "published": True}

    def organisation_off(self, org_id: str, user_ids: list[str]) -> None:
        from cent import CentError, Disconnect, DisconnectRequest

        for user in user_ids:
            # CentError: the server is gone, so nobody is connected to it any more.
            with contextlib.suppress(CentError):
                self._client.disconnect(DisconnectRequest(
                    user=user,
                    disconnect=Disconnect(code=DEPROVISIONED_CODE, reason=DEPROVISIONED_REASON),
                ))

    def reset(self) -> None:
        """Nothing to forget: publications are not kept (no history configured)."""
