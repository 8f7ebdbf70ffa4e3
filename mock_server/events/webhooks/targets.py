"""Where the mock may send a webhook: one parse of the URL, a rule on its host, and a check of
every address the host resolves to, made when the connection is made.

Parsers disagree about URLs (userinfo, backslashes, numeric host forms), so the mock parses a
target once, refuses whatever two parsers could read differently, and then connects to exactly
the address it checked (`transport.post`): the check and the connection cannot drift apart.
Only loopback by default (`--allow-webhook-host` adds names), and never the mock itself.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: A host made of numbers: decimal, octal or hex, one to four parts (`2130706433`,
#: `0177.0.0.1`, `0x7f.1`, `127.1`). Resolvers read these in different ways; only the plain
#: dotted-decimal form is taken.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = ipaddress.ip_address("127.0.0.1")
_USERINFO = re.compile(r"^([^:/?#]*:?/*)[^@/?#]*@")


class Blocked(ValueError):
    """The target is not one the mock may send to (the message says why)."""


@dataclass(frozen=True)
class Target:
    """A parsed webhook URL: what the mock connects to, and what it asks for there."""

    url: str
    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    path: str  # path and query, as sent on the request line

    @property
    def literal(self) -> Address | None:
        """The host as an IP address, when it is written as one."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def shown(url: str) -> str:
    """`url` for a message: anything before an `@` in it masked (it may be a password)."""
    return repr(_USERINFO.sub(r"\1***@", url))


def parse(url: str) -> Target:
    """One parse of `url`; Blocked when it is not a plain http(s) URL."""
    if not isinstance(url, str) or not url:
        raise Blocked(f"{url!r} is not a URL")
    url_ = shown(url)
    if "\\" in url:
        raise Blocked(f"{url_} has a backslash: parsers disagree on where its host ends")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in url):
        raise Blocked(f"{url_} has spaces, control or non-ASCII characters (write the host "
                      "in its ASCII form)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Blocked(f"{url_} is not a URL (bad host or port)") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise Blocked(f"{url_} is not an http(s) URL")
    if "@" in parts.netloc:
        raise Blocked(f"{url_} has credentials (user@host): parsers disagree on them, the "
                      "mock does not send them")
    host = parts.hostname
    if "%" in host:
        raise Blocked(f"{url_}: an escaped or zoned host is not taken")
    if parts.netloc.startswith("[") or ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise Blocked(f"{url_} is not a URL (bad IPv6 address)") from None
    elif _NUMERIC_HOST.match(host):
        try:
            canonical = str(ipaddress.IPv4Address(host.rstrip(".")))
        except ValueError:
            canonical = None
        if canonical != host:
            raise Blocked(f"{host!r} is a numeric host in a form resolvers read differently: "
                          "write the address in dotted decimal (e.g. 127.0.0.1)")
    if port == 0:
        raise Blocked(f"{url_} has port 0")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], path)


def is_loopback(address: Address) -> bool:
    """Loopback, including the IPv6-mapped form of a loopback IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _addresses(host: str) -> set[Address]:
    """What `host` resolves to (empty when it does not)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {_plain(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos}


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Policy:
    """Loopback only, plus the hosts named with `--allow-webhook-host`, never the mock."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self.allowed_hosts = tuple(h.lower() for h in allowed_hosts)
        self._own: set[tuple[Address, int]] = set()

    def serving_at(self, host: str, port: int | str) -> None:
        """The mock listens on `host:port`: no webhook may be sent there."""
        own = _addresses(host)
        if any(a.is_unspecified for a in own):  # every interface: this machine's addresses
            own |= _addresses(socket.gethostname()) | {_LOOPBACK}
        self._own = {(a, int(port)) for a in own or {_LOOPBACK}}

    def is_own(self, address: Address, port: int) -> bool:
        """The mock's own listening address: one it listens on, or any loopback address on
        its port when it listens on a loopback one (or on every interface)."""
        address = _plain(address)
        return any(port == own_port and (address == own or address.is_unspecified
                                         or (is_loopback(own) and is_loopback(address)))
                   for own, own_port in self._own)

    def problem(self, url: str) -> str | None:
        """Why the mock will not send to `url` (known without a DNS lookup), or None."""
        try:
            target = parse(url)
        except Blocked as exc:
            return str(exc)
        literal = target.literal
        where = literal if literal is not None else (
            _LOOPBACK if target.host == "localhost" else None)
        if where is not None and self.is_own(where, target.port):
            return f"{shown(url)} is the mock itself"
        if target.host in self.allowed_hosts or target.host == "localhost":
            return None
        if literal is not None and is_loopback(literal):
            return None
        return (f"{target.host!r} is not a loopback address: the mock only delivers to this "
                "machine unless started with --allow-webhook-host " + target.host)

    def resolve(self, target: Target) -> list[tuple[int, tuple[object, ...]]]:
        """Every (family, sockaddr) the host resolves to now, each checked: Blocked when one
        is the mock or (for a host not allowed by name) not loopback; OSError when the name
        does not resolve."""
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        checked = []
        for family, _, _, _, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if self.is_own(address, target.port):
                raise Blocked(f"{target.host!r} resolves to {address}, the mock itself")
            if target.host not in self.allowed_hosts and not is_loopback(address):
                raise Blocked(f"{target.host!r} resolves to {address}, which is not a loopback "
                              "address")
            checked.append((family, sockaddr))
        if not checked:
            raise OSError(f"{target.host!r} resolves to no address")
        return checked
