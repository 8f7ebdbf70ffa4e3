"""One webhook attempt on the wire: connect to a checked address, POST, read the answer, all
within one deadline, and at most a fixed number of bytes of the answer's body.

A timeout per socket read does not bound an attempt: a receiver that trickles its answer one
byte at a time resets it on every byte. Here every socket operation gets only the time left
until the attempt's deadline (connect, TLS handshake, sending, status line, headers, body),
so a whole attempt never outlives it. `http.client` (standard library) speaks HTTP/1.1 on the
socket the mock connected itself, so the request goes to exactly the address the policy
checked; it never follows a redirect.
"""

from __future__ import annotations

import functools
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from .targets import Target

#: Bytes of a receiver's answer body the mock reads; the rest is not read (recorded as
#: truncated). Receivers answer with a status; a body is only ever a short message.
MAX_ANSWER_BYTES = 64 * 1024
_CHUNK = 16 * 1024


class DeadlinePassed(TimeoutError):
    """The attempt's deadline passed before it was complete."""


@dataclass(frozen=True)
class Answer:
    """What the receiver answered: its status, and how much of its body was read."""

    status: int
    body_bytes: int
    truncated: bool


class _Deadline:
    """A socket whose every blocking operation only gets the time left until `deadline`."""

    deadline: float = float("inf")

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the attempt's deadline passed")
        self.settimeout(left)  # type: ignore[attr-defined]

    def recv(self, *args: Any) -> bytes:
        self._arm()
        return super().recv(*args)  # type: ignore[misc]

    def recv_into(self, *args: Any) -> int:
        self._arm()
        return super().recv_into(*args)  # type: ignore[misc]

    def send(self, *args: Any) -> int:
        self._arm()
        return super().send(*args)  # type: ignore[misc]

    def sendall(self, *args: Any) -> None:
        self._arm()
        return super().sendall(*args)  # type: ignore[misc]


class _DeadlineSocket(_Deadline, socket.socket):
    pass


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
    pass


class _Connection(http.client.HTTPConnection):
    """`http.client` on a socket already connected (to an address the policy checked)."""

    def __init__(self, target: Target, sock: socket.socket) -> None:
        super().__init__(target.host, target.port)
        self._connected = sock

    def connect(self) -> None:
        self.sock = self._connected


def post(target: Target, addresses: list[tuple[int, tuple[Any, ...]]], body: bytes,
         headers: dict[str, str], timeout_s: float,
         max_answer_bytes: int = MAX_ANSWER_BYTES) -> Answer:
    """POST `body` to `target` at the first of `addresses` that takes the connection, all
    within `timeout_s`. Raises DeadlinePassed, OSError (refused, reset, TLS) or
    http.client.HTTPException (an answer that is not HTTP)."""
    deadline = time.monotonic() + timeout_s
    sock = _connect(addresses, deadline)
    try:
        if target.scheme == "https":
            sock = _tls(sock, target.host, deadline)
        connection = _Connection(target, sock)
        connection.request("POST", target.path, body=body,
                           headers={"Host": target.host_header, **headers})
        response = connection.getresponse()
        read, truncated = 0, False
        while True:
            chunk = response.read(min(_CHUNK, max_answer_bytes + 1 - read))
            if not chunk:
                break
            read += len(chunk)
            if read > max_answer_bytes:
                read, truncated = max_answer_bytes, True
                break
        return Answer(response.status, read, truncated)
    finally:
        sock.close()


def _connect(addresses: list[tuple[int, tuple[Any, ...]]], deadline: float) -> socket.socket:
    """A socket connected to the first address that answers (they were all checked)."""
    error: OSError = OSError("no address to connect to")
    for family, sockaddr in addresses:
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        sock.deadline = deadline
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlinePassed("the attempt's deadline passed")
            sock.settimeout(left)
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except DeadlinePassed:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            if isinstance(exc, TimeoutError):
                raise DeadlinePassed("no connection before the deadline") from exc
            error = exc
    raise error


def _tls(sock: socket.socket, host: str, deadline: float) -> socket.socket:
    """TLS over `sock`. The handshake gets the time left: CPython bounds a whole handshake
    by the socket's timeout (not each read of it)."""
    tls = _tls_context().wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        tls.deadline = deadline  # type: ignore[attr-defined]
        tls._arm()  # type: ignore[attr-defined]
        try:
            tls.do_handshake()
        except TimeoutError:
            raise DeadlinePassed("no TLS handshake before the deadline") from None
        return tls
    except BaseException:
        tls.close()
        raise


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trusted certificates, loaded once (by the first https delivery)."""
    context = ssl.create_default_context()
    context.sslsocket_class = _DeadlineSSLSocket
    return context
