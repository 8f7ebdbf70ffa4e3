"""Is the realtime URL a realtime server at all? Asked once, before any realtime rule.

A wrong `--realtime-url` (nothing listening, a web page, a server that does not speak
Centrifugo's client protocol) is not a broken contract: the run stops with one sentence and
"could not check", within seconds, instead of marking every realtime rule BROKEN. A server
that answers the connect command, even with a refusal (an error reply, a 3xxx/4xxx close),
speaks the protocol: whether it accepts the API's tokens is the `realtime-connect` rule's
business.
"""

from __future__ import annotations

import json
import socket
import ssl
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.sync.client import connect

#: Seconds for the handshake, then again for the answer to the connect command.
PROBE_TIMEOUT_S = 5.0


def shown(url: str) -> str:
    """The URL without its query or fragment (where a token could hide)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def problem(url: str, token: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when `url` speaks Centrifugo's client protocol; else what happened, in words."""
    try:
        socket_ = connect(url, open_timeout=timeout, close_timeout=1, proxy=None)
    except InvalidURI:
        return "is not a ws:// or wss:// URL"
    except InvalidStatus as exc:
        return (f"answered HTTP {exc.response.status_code} instead of a WebSocket handshake "
                "(is the path /connection/websocket?)")
    except ConnectionRefusedError:
        return "refused the connection (nothing listens there)"
    except socket.gaierror:
        return "names a host that cannot be resolved"
    except TimeoutError:
        return f"did not complete a WebSocket handshake within {timeout:g} s"
    except ssl.SSLError as exc:
        return f"failed the TLS handshake ({exc.reason or type(exc).__name__})"
    except (OSError, WebSocketException) as exc:
        return f"could not be reached ({type(exc).__name__})"
    with socket_:
        try:
            socket_.send(json.dumps({"id": 1, "connect": {"token": token,
                                                          "name": "envoy-events-contract"}}))
            return _judge_answer(socket_, timeout)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code is not None and 3000 <= code <= 4999:
                return None  # a protocol refusal, e.g. 3500 invalid token
            return (f"closed the WebSocket (code {code}) without answering the connect "
                    "command: it does not speak Centrifugo's client protocol")
        except TimeoutError:
            return (f"accepted the WebSocket but did not answer the connect command within "
                    f"{timeout:g} s: it does not speak Centrifugo's client protocol")
        except (OSError, WebSocketException) as exc:
            return f"dropped the connection ({type(exc).__name__})"


def _judge_answer(socket_, timeout: float) -> str | None:
    while True:
        frame = socket_.recv(timeout=timeout)
        for line in (frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                     ).strip().split("\n"):
            try:
                reply = json.loads(line)
            except ValueError:
                return ("answered the connect command with something other than JSON: it "
                        "does not speak Centrifugo's client protocol")
            if reply == {}:
                continue  # a ping
            if isinstance(reply, dict) and reply.get("id") == 1 and (
                    "connect" in reply or "error" in reply):
                return None
            return ("answered the connect command with an unexpected message: it does not "
                    "speak Centrifugo's client protocol")
