"""Who may drive the mock: the checks a request passes before any handler runs.

A mock on 127.0.0.1 is still reachable from every web page the developer's browser opens,
and on `--host 0.0.0.0` from the whole network (docs/security.md). So:

- `Host` must be a loopback name or address, the host the mock was started on, or one
  given with `--allow-host` (else 421): a DNS-rebinding page cannot read the mock.
- With a control token, every `/__mock__/` call carries `Authorization: Bearer TOKEN`
  (else 401; compared in constant time). CORS preflights carry no credentials: exempt.
- A state-changing control call that carries an `Origin` must come from a trusted page
  (loopback origins, `--cors-origin` ones, or the mock's own origin; else 403), bodyless
  ones included.
- A control call with a body must say `Content-Type: application/json` (else 415), so a
  browser always preflights it; the preflight then gets no CORS allowance for a foreign page.

Calls without `Origin` (curl, the pytest plugin, CI) pass the Origin rule untouched.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
import socket
from dataclasses import replace
from typing import Any

from ..api.errors import ApiError
from ..config import DEV_SECRET, ConfigError, Settings
from ..control.dashboard import is_page

CONTROL_PREFIX = "/__mock__"
#: Browser pages served from any port of a loopback host; CORS allows them (both APIs).
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
_LOCAL_ORIGIN = re.compile(LOCAL_ORIGINS, re.IGNORECASE)
#: Methods a page could use to change the mock's state.
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Set in the WSGI environ of a refused request, so strict mode does not judge the refusal
#: against the events spec (it is the mock's own answer, not the API's).
REFUSED = "envoy_events.refused"
#: Bind addresses that mean "every interface".
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
CONTROL_REALM = 'Bearer realm="envoy-events mock control"'


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _loopback_name(name: str) -> bool:
    """`localhost`, `*.localhost` (RFC 6761) or a loopback address, without resolving."""
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    return address is not None and address.is_loopback


def is_loopback_bind(host: str) -> bool | None:
    """Does binding `host` keep the mock on this machine? None when `host` does not
    resolve (binding it will fail and say so)."""
    if host.strip("[]") in _WILDCARDS:
        return False
    if _loopback_name(host):
        return True
    try:
        found = socket.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return None
    return all(_loopback_name(str(info[4][0])) for info in found)


def exposed(settings: Settings, host: str) -> tuple[Settings, bool]:
    """The settings to serve `host` with, and whether a control token was generated.

    Off loopback the control API (snapshot with secrets, reset, principals) and a realtime
    server signing with the mock's secret are open to the network: the published
    development secret is refused, and a control token is generated unless one is given."""
    if is_loopback_bind(host) in (True, None):
        return settings, False
    if settings.secret == DEV_SECRET:
        raise ConfigError(
            f"--host {host} is reachable from other machines, and the default signing secret "
            "is published in the README: pass --secret (or ENVOY_EVENTS_SECRET) with one of "
            "your own")
    if settings.control_token:
        return settings, False
    return replace(settings, control_token=secrets.token_urlsafe(24)), True


def host_name(header: str) -> str:
    """The name in a `Host` header: no port, no IPv6 brackets, lower case, no final dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


class Guard:
    """The checks of the module docstring, for one mock."""

    def __init__(self, settings: Settings) -> None:
        self._names = {host_name(h) for h in settings.allowed_hosts if h.strip()}
        self._any_ip = False
        self._origins = frozenset(o.strip().rstrip("/").lower() for o in settings.cors_origins)
        token = settings.control_token
        self._token = token.encode() if token else None
        #: `Host` header values already judged acceptable (the same few on every request).
        self._allowed: dict[str, bool] = {}

    @property
    def token_required(self) -> bool:
        return self._token is not None

    def trust_bound_host(self, host: str) -> None:
        """Accept the host the mock was started on; on every interface, any IP address
        (a LAN client names the machine by address; an address cannot be rebound)."""
        name = host_name(host)
        if name.strip("[]") in _WILDCARDS:
            self._any_ip = True
            self._names.add(socket.gethostname().lower())
        else:
            self._names.add(name)
        self._allowed.clear()

    def host_allowed(self, header: str | None) -> bool:
        """A request without `Host` (HTTP/1.0) comes from no browser: it passes."""
        if not header:
            return True
        known = self._allowed.get(header)
        if known is not None:
            return known
        name = host_name(header)
        allowed = (_loopback_name(name) or name in self._names
                   or (self._any_ip and _ip(name) is not None))
        if allowed and len(self._allowed) < 256:
            self._allowed[header] = True
        return allowed

    def origin_trusted(self, origin: str) -> bool:
        origin = origin.strip()
        return bool(_LOCAL_ORIGIN.match(origin)) or origin.rstrip("/").lower() in self._origins

    def check(self, environ: dict[str, Any], path: str) -> None:
        """Raise the ApiError that refuses this request, if one does."""
        host = environ.get("HTTP_HOST")
        if not (host is None or host in self._allowed or self.host_allowed(host)):
            environ[REFUSED] = True
            raise ApiError(421, "misdirected_request",
                           f"This mock does not answer for the host {host_name(host)!r}: it "
                           "answers loopback names, the host it was started on and names given "
                           "with --allow-host.")
        if path.startswith(CONTROL_PREFIX):
            self._check_control(environ, path)

    def _check_control(self, environ: dict[str, Any], path: str) -> None:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":  # a CORS preflight: no credentials, no effect
            return
        # The dashboard's page and files carry no secret, and a browser opening a URL cannot
        # send a token: they load, then the page asks for the token for its data calls.
        if self._token is not None and not is_page(path, method):
            scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
            if not (scheme.lower() == "bearer"
                    and hmac.compare_digest(given.strip().encode(), self._token)):
                environ[REFUSED] = True
                raise ApiError(401, "unauthorized",
                               "The control API needs Authorization: Bearer <control token> "
                               "(the --control-token or ENVOY_EVENTS_CONTROL_TOKEN given to "
                               "the mock, or the one its banner printed).",
                               {"WWW-Authenticate": CONTROL_REALM})
        origin = environ.get("HTTP_ORIGIN")
        if (origin is not None and method in STATE_CHANGING and not self.origin_trusted(origin)
                and not _same_origin(origin, environ.get("HTTP_HOST"))):
            environ[REFUSED] = True
            raise ApiError(403, "forbidden",
                           f"The control API takes changes only from loopback pages and "
                           f"origins given with --cors-origin, not from {origin[:100]!r}.")
        if _has_body(environ) and not _is_json(environ.get("CONTENT_TYPE", "")):
            environ[REFUSED] = True
            raise ApiError(415, "unsupported_media_type",
                           "Control API request bodies must be sent as "
                           "Content-Type: application/json.")


def _same_origin(origin: str, host: str | None) -> bool:
    """A page the mock itself served (its `Host` passed the Host check already, so a
    rebinding page cannot pose as one)."""
    scheme, _, authority = origin.strip().partition("://")
    return bool(host) and scheme in ("http", "https") and authority.lower() == host.lower()


def _has_body(environ: dict[str, Any]) -> bool:
    length = environ.get("CONTENT_LENGTH")
    if length:
        return length.strip() not in ("", "0")
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"
