"""The mock's clock and the minting of Centrifugo-compatible JWTs. No Flask here.

Tokens carry no random claim, so with a frozen clock the same request by the same principal
yields byte-identical tokens (handy for snapshots). Every token is signed afresh: a memo of
signed tokens only ever hit the same principal asking again within one second, i.e. a
benchmark (`benchmarks/token_memo.py` measures it side by side).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from envoy_events_kit.claims import CONNECTION, SUBSCRIPTION, claims
from envoy_events_kit.instants import InstantError, format_instant, parse_instant

from ..state.model import Principal

ALGORITHM = "HS256"
HEADER = {"typ": "JWT"}  # PyJWT adds "alg" first: {"alg": "HS256", "typ": "JWT"}


class _CheckedKeyHS256(HMACAlgorithm):
    """HS256 that checks the secret once: PyJWT re-checks it (a JSON parse) on every call."""

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared: dict[Any, bytes] = {}

    def prepare_key(self, key: Any) -> bytes:
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = super().prepare_key(key)
        return prepared


def _signer() -> jwt.PyJWS:
    jws = jwt.PyJWS(algorithms=[])
    jws.register_algorithm(ALGORITHM, _CheckedKeyHS256())
    return jws


#: The window the clock may be set in: event ids are KSUIDs, whose 32-bit timestamp counts
#: seconds from 2014-05-13T16:53:20Z, so an event stamped outside it cannot get an id.
KSUID_EPOCH = 1_400_000_000
CLOCK_EARLIEST = datetime.fromtimestamp(KSUID_EPOCH, UTC)
CLOCK_LATEST = datetime.fromtimestamp(KSUID_EPOCH + 2**32 - 1, UTC)


def parse_clock_instant(text: str) -> datetime:
    """An instant the clock may be frozen at (InstantError otherwise)."""
    return parse_instant(text, earliest=CLOCK_EARLIEST, latest=CLOCK_LATEST)


class Clock:
    """Real time, or an instant that only moves when told to. Thread-safe; a setting it
    refuses (InstantError) leaves it as it was."""

    def __init__(self, setting: str = "real") -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self.set(setting)

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` after every change (webhook retries are due on this clock)."""
        self._listeners.append(listener)

    def set(self, setting: str) -> None:
        """`real` or an ISO-8601 instant (with its offset) in the clock's window to freeze at."""
        frozen = None if setting == "real" else parse_clock_instant(setting)
        with self._lock:
            self._frozen = frozen
        self._moved()

    def advance(self, seconds: int) -> None:
        """Freeze at now + seconds; InstantError (nothing moves) when that leaves the window."""
        with self._lock:
            base = self._frozen if self._frozen is not None else datetime.now(UTC)
            try:
                moved = base + timedelta(seconds=seconds)
            except OverflowError:
                moved = None
            if moved is None or not CLOCK_EARLIEST <= moved <= CLOCK_LATEST:
                raise InstantError(
                    f"advancing by {seconds} s would move the clock out of its window "
                    f"({format_instant(CLOCK_EARLIEST)} to {format_instant(CLOCK_LATEST)})")
            self._frozen = moved
        self._moved()

    def _moved(self) -> None:
        for listener in self._listeners:
            listener()

    @property
    def mode(self) -> str:
        return "real" if self._frozen is None else "frozen"

    def now(self) -> datetime:
        frozen = self._frozen
        return frozen if frozen is not None else datetime.now(UTC)

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def describe(self) -> dict[str, str]:
        return {"mode": self.mode, "now": format_instant(self.now())}


class Minter:
    """Signs connection and subscription tokens with one secret, TTL and clock."""

    def __init__(self, secret: str, ttl: int, clock: Clock) -> None:
        self._secret = secret
        self._ttl = ttl
        self._clock = clock
        self._jws = _signer()
        # The claims schemas are read from the spec here, at start, not by the first request.
        self._connection, self._subscription = claims(CONNECTION), claims(SUBSCRIPTION)

    def _sign_json(self, payload: str) -> str:
        return self._jws.encode(payload.encode(), self._secret, ALGORITHM, HEADER)

    def _sign(self, claims: dict[str, Any]) -> str:
        """What `jwt.encode(claims, ...)` returns (same compact JSON payload)."""
        return self._sign_json(json.dumps(claims, separators=(",", ":")))

    def _times(self) -> dict[str, int]:
        iat = self._clock.timestamp()
        return {"issued_at": iat, "expires_at": iat + self._ttl}

    def connection(self, principal: Principal, channels: list[str]) -> str:
        """Connection JWT, laid out by the spec's `ConnectionTokenClaims`."""
        return self._sign(self._connection.build(
            {"user_id": principal.user_id, "org_id": principal.org_id,
             "granted_channels": channels, **self._times()}))

    def subscription(self, principal: Principal, channel: str) -> str:
        """Subscription JWT for exactly `channel`, laid out by `SubscriptionTokenClaims`."""
        return self._sign(self._subscription.build(
            {"user_id": principal.user_id, "requested_channel": channel, **self._times()}))
