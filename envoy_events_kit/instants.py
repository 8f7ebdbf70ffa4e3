"""Instants as text: the one parser (and formatter) the mock, its CLI and the contract suite use.

An instant must say its offset (`Z` or `+01:00`): a naive one means a different moment on
each machine, and once stored it cannot be compared with the aware instants the mock keeps
(every request with it would fail). It must also exist in UTC: `0001-01-01T00:00:00+01:00`
is a valid RFC 3339 string whose UTC form is in year 0, which Python cannot represent.
Callers that need a narrower window (the mock's clock) pass `earliest`/`latest`.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["InstantError", "parse_instant", "format_instant"]


class InstantError(ValueError):
    """Text that is not an instant the caller can use; the message says why, for a person."""


def parse_instant(text: str, *, earliest: datetime | None = None,
                  latest: datetime | None = None) -> datetime:
    """An aware UTC datetime from ISO-8601 text such as `2026-01-01T00:00:00Z`.

    InstantError when the text is not an instant, has no offset, is not representable in
    UTC, or falls outside [earliest, latest].
    """
    if not isinstance(text, str):
        raise InstantError(f"{_shown(text)} is not an ISO-8601 instant")
    try:
        value = datetime.fromisoformat(text.upper())  # RFC 3339 allows t and z as well
    except ValueError:
        raise InstantError(f"{_shown(text)} is not an ISO-8601 instant "
                           "(e.g. 2026-01-01T00:00:00Z)") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InstantError(f"{_shown(text)} has no offset: add Z (UTC) or one such as +01:00")
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise InstantError(f"{_shown(text)} is out of range: in UTC it falls outside the years "
                           "1 to 9999") from None
    if earliest is not None and value < earliest or latest is not None and value > latest:
        raise InstantError(f"{_shown(text)} is out of range: it must be between "
                           f"{format_instant(earliest or datetime.min.replace(tzinfo=UTC))} "
                           f"and {format_instant(latest or datetime.max.replace(tzinfo=UTC))}")
    return value


def format_instant(value: datetime) -> str:
    """`2026-01-01T00:00:00Z`: UTC, with microseconds only when there are some."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shown(text: object) -> str:
    """The input as a message quotes it: never more than 60 characters of it."""
    if isinstance(text, str) and len(text) > 60:
        return repr(text[:60] + "...")
    return repr(text)
