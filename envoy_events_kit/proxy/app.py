"""The validating proxy as a WSGI app: forward, judge, annotate, report.

Every request goes upstream as it came (method, path, query, headers, a body on a GET too;
`Authorization` untouched; `Host` set to the upstream's, as any reverse proxy does). Answers
come back as they came, plus `x-contract-violations: <count>; <rule>, ...` when the answer
breaks the contract and `x-contract-request-problems: ...` when the request was outside the
spec. JSON answers up to `BUFFER_LIMIT` are read whole and judged before they go out;
anything else (an event stream, a larger body, an encoding we cannot read) is streamed
through chunk by chunk and judged on its status and headers only.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import urllib3

from envoy_events_kit.redaction import Redactor

from .report import Tally, credential, describe_request, redact, text_lines
from .validate import Exchange, Finding, Validator, Verdict

#: Answers up to this size are judged before they go out; larger ones stream through.
BUFFER_LIMIT = 1024 * 1024
#: The largest request body the proxy forwards (it reads bodies whole to judge them).
MAX_REQUEST_BODY = 16 * 1024 * 1024
REPORT_PATH = "/__proxy__/report"
VIOLATIONS_HEADER = "x-contract-violations"
REQUEST_PROBLEMS_HEADER = "x-contract-request-problems"
DIFFERENCES_HEADER = "x-contract-differences"
#: RFC 9110 hop-by-hop fields (and Host, which names the proxy, not the upstream).
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-connection",
                         "proxy-authorization", "te", "trailer", "trailers",
                         "transfer-encoding", "upgrade", "host", "content-length"})
_STREAMED_TYPES = ("text/event-stream", "application/octet-stream", "multipart/")


@dataclass
class ProxyReport:
    """What the proxy saw since it started (or since the last DELETE of the report)."""

    violations: Tally = field(default_factory=Tally)
    request_problems: Tally = field(default_factory=Tally)
    #: With --compare-mock: how the mirrored mock's answers differed.
    differences: Tally | None = None
    compared: int = 0
    requests: int = 0
    judged: int = 0
    not_in_spec: int = 0
    streamed: int = 0
    upstream_errors: int = 0
    started: float = field(default_factory=time.time)
    upstream: str = ""
    #: Whether issued tokens' signatures are checked (--jwt-secret).
    signature_checked: bool = False
    _statuses: Counter[tuple[str, str, int]] = field(default_factory=Counter, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, method: str, path: str, status: int) -> None:
        """Count one answer of the upstream (the report's documented-statuses table)."""
        with self._lock:
            self._statuses[(method.upper(), path, status)] += 1

    def statuses_seen(self) -> Counter[tuple[str, str, int]]:
        with self._lock:
            return Counter(self._statuses)

    def count(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            counts = {"requests": self.requests, "judged": self.judged,
                      "not_in_spec": self.not_in_spec, "streamed_unjudged_body": self.streamed,
                      "upstream_errors": self.upstream_errors}
        data = {**counts, "violation_count": self.violations.total,
                "violations": self.violations.as_list(),
                "request_problem_count": self.request_problems.total,
                "request_problems": self.request_problems.as_list()}
        if self.differences is not None:
            data.update(compared_with_mock=self.compared,
                        difference_count=self.differences.total,
                        differences=self.differences.as_list())
        return data

    def summary(self) -> str:
        data = self.as_dict()
        lines = [f"envoy-events proxy: {data['requests']} requests, {data['judged']} judged "
                 f"against the spec, {data['not_in_spec']} outside its operations, "
                 f"{data['upstream_errors']} upstream errors"]
        lines += text_lines("contract violations (the server's answers)",
                            self.violations.rules(), "none")
        lines += text_lines("requests outside the spec (the client's)",
                            self.request_problems.rules(), "none")
        if self.differences is not None:
            lines += text_lines(f"differences from the mirrored mock ({self.compared} "
                                "requests compared)", self.differences.rules(), "none")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The contract suite's summary page, for what the proxy saw."""
        from .ci_report import markdown

        return Redactor()(markdown(self))

    def write(self, directory: Path) -> list[Path]:
        """DIR/junit.xml and DIR/summary.md in the contract suite's formats (summary.md
        also appended to `$GITHUB_STEP_SUMMARY`), and DIR/report.json."""
        from envoy_events_kit.contract_tests.junit import write_junit
        from envoy_events_kit.contract_tests.report import JUNIT_NAME, publish

        from .ci_report import SUITE_NAME, junit_cases
        from .report import write_json

        redact = Redactor()
        directory.mkdir(parents=True, exist_ok=True)
        junit = write_junit(directory / JUNIT_NAME, SUITE_NAME, junit_cases(self),
                            seconds=time.time() - self.started,
                            started=datetime.fromtimestamp(self.started, UTC))
        junit.write_text(redact(junit.read_text(encoding="utf-8")), encoding="utf-8")
        page = publish(directory, self.markdown())
        data = directory / "report.json"
        write_json(data, self.as_dict())
        data.write_text(redact(data.read_text(encoding="utf-8")), encoding="utf-8")
        return [junit, page, data]


def _loopback_or_ip(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _host_name(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class ProxyApp:
    """A WSGI app that forwards to `upstream` and judges every exchange."""

    def __init__(self, upstream: str, *, validator: Validator | None = None,
                 errors: bool = False, timeout: float = 30.0, pool_size: int = 16,
                 allowed_hosts: Iterable[str] = (), log: Callable[[str], None] | None = None,
                 compare_mock: bool = False) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--upstream {upstream!r} is not an http(s) URL")
        self.upstream = upstream.rstrip("/")
        self._prefix = parts.path.rstrip("/")
        self._pool = urllib3.connection_from_url(
            f"{parts.scheme}://{parts.netloc}", maxsize=pool_size, block=False,
            timeout=urllib3.Timeout(total=timeout), retries=False)
        self.validator = validator or Validator()
        self.errors = errors
        self.allowed_hosts = {h.lower() for h in allowed_hosts}
        self.mirror = None
        if compare_mock:
            from .compare_mock import MockMirror

            self.mirror = MockMirror()
        self.report = self._new_report()
        self.log = log

    def _new_report(self) -> ProxyReport:
        return ProxyReport(differences=Tally() if self.mirror is not None else None,
                           upstream=self.upstream,
                           signature_checked=bool(self.validator.secret))

    def close(self) -> None:
        self._pool.close()
        if self.mirror is not None:
            self.mirror.close()

    # -- WSGI ----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        host = _host_name(environ.get("HTTP_HOST", "") or environ.get("SERVER_NAME", ""))
        if host and not (_loopback_or_ip(host) or host in self.allowed_hosts):
            return _error(start_response, 421, "host_not_allowed",
                          f"This proxy answers only for loopback names and addresses, not "
                          f"{host!r} (see --allow-host).")
        path = environ.get("PATH_INFO", "") or "/"
        if path == REPORT_PATH:
            return self._report_endpoint(environ, start_response)
        try:
            body = _read_body(environ)
        except ValueError as exc:
            return _error(start_response, 413, "payload_too_large", str(exc))
        return self._forward(environ, start_response, path, body)

    def _report_endpoint(self, environ: dict[str, Any], start_response: Callable
                         ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "DELETE":
            self.report = self._new_report()
            start_response("204 No Content", [])
            return []
        if method not in ("GET", "HEAD"):
            return _error(start_response, 405, "method_not_allowed",
                          "The report answers GET (and DELETE to start afresh).",
                          [("Allow", "GET, HEAD, DELETE")])
        wants_markdown = "markdown" in environ.get("HTTP_ACCEPT", "")
        data = (self.report.markdown().encode() if wants_markdown
                else json.dumps(self.report.as_dict(), indent=2).encode())
        kind = "text/markdown; charset=utf-8" if wants_markdown else "application/json"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(data))),
                                  ("Cache-Control", "no-store")])
        return [] if method == "HEAD" else [data]

    def _forward(self, environ: dict[str, Any], start_response: Callable, path: str,
                 body: bytes) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        headers = _request_headers(environ)
        url = self._prefix + path + (f"?{query}" if query else "")
        self.report.count(requests=1)
        try:
            answer = self._pool.urlopen(method, url, body=body or None, headers=headers,
                                        redirect=False, preload_content=False,
                                        decode_content=False, assert_same_host=False)
        except urllib3.exceptions.HTTPError as exc:
            self.report.count(upstream_errors=1)
            return _error(start_response, 502, "upstream_unreachable",
                          f"The upstream {self.upstream} did not answer: "
                          f"{type(exc).__name__}.")
        raw, streamed = _buffer(answer, method)
        response_headers = [(k, v) for k, v in answer.headers.items()
                            if k.lower() not in _HOP_BY_HOP]
        lower = {k.lower(): v for k, v in answer.headers.items()}
        exchange = Exchange(method=method, path=path, query=query,
                            authorization=environ.get("HTTP_AUTHORIZATION"),
                            request_body=body, status=answer.status, headers=lower,
                            body=None if streamed else _decoded(raw, lower),
                            request_content_type=environ.get("CONTENT_TYPE") or None)
        verdict = _redacted(self.validator.judge(exchange), exchange)
        self._record(exchange, verdict, streamed or exchange.body is None)
        compared = (self._compare(verdict.operation_id, exchange) if self.mirror is not None
                    and verdict.operation_id and exchange.body is not None else [])
        extra = _annotations(verdict, lower, compared)
        status = f"{answer.status} {answer.reason or _reason(answer.status)}"
        if self.errors and verdict.violations:
            _discard(answer, streamed)
            cors = [(k, v) for k, v in response_headers if k.lower().startswith("access-control")]
            return _violation_error(start_response, verdict.violations, [*cors, *extra])
        if streamed:
            length = [("Content-Length", lower["content-length"])] if (
                "content-length" in lower) else []
            start_response(status, [*response_headers, *extra, *length])
            return _Stream(answer, raw)
        start_response(status, [*response_headers, *extra,
                                ("Content-Length", str(len(raw)))])
        answer.release_conn()
        return [raw] if method != "HEAD" else []

    def _compare(self, operation_id: str, exchange: Exchange) -> list[tuple[str, str]]:
        """Ask the mirrored mock too; record and announce each difference."""
        assert self.mirror is not None and self.report.differences is not None
        differences = self.mirror.compare(operation_id, exchange,
                                          self.validator.caller(exchange.bearer))
        if differences is None:
            return []
        self.report.count(compared=1)
        if not differences:
            return []
        described = describe_request(exchange.method, exchange.path, exchange.query,
                                     exchange.request_body, exchange.authorization)
        secrets = _secrets(exchange)
        for difference in differences:
            self.report.differences.add(difference.rule, redact(
                f"{operation_id}: {difference.detail}", secrets), described)
        rules = ", ".join(dict.fromkeys(d.rule for d in differences))
        return [(DIFFERENCES_HEADER, f"{len(differences)}; {rules}")]

    def _record(self, exchange: Exchange, verdict: Verdict, streamed: bool) -> None:
        if verdict.operation_id is None:
            self.report.count(not_in_spec=1)
            return
        self.report.count(judged=1, streamed=int(streamed))
        self.report.observe(exchange.method, exchange.path, exchange.status)
        if not verdict.findings:
            return
        described = describe_request(exchange.method, exchange.path, exchange.query,
                                     exchange.request_body, exchange.authorization)
        for finding in verdict.findings:
            tally = (self.report.violations if finding.side == "server"
                     else self.report.request_problems)
            tally.add(finding.rule, finding.detail, described)
        if self.log and verdict.violations:
            for finding in verdict.violations:
                self.log(f"VIOLATION {finding.rule}: {finding.detail}  [{described} -> "
                         f"{exchange.status}]")


def _secrets(exchange: Exchange) -> list[str]:
    """What must never be shown: the caller's credential and the token it was issued."""
    found = [credential(exchange.authorization)]
    issued = exchange.response_json
    if isinstance(issued, dict) and isinstance(issued.get("token"), str):
        found.append(issued["token"])
    return found


def _redacted(verdict: Verdict, exchange: Exchange) -> Verdict:
    """The verdict with every secret taken out of its sentences (they quote values)."""
    if not verdict.findings:
        return verdict
    secrets = _secrets(exchange)
    return Verdict(tuple(replace(f, detail=redact(f.detail, secrets))
                         for f in verdict.findings), verdict.operation_id)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        try:
            size = int(length)
        except ValueError as exc:
            raise ValueError("The Content-Length header is not a number.") from exc
        if size > MAX_REQUEST_BODY:
            raise ValueError(f"The request body is over {MAX_REQUEST_BODY} bytes.")
        return stream.read(size) if size > 0 else b""
    if environ.get("wsgi.input_terminated"):
        data = stream.read(MAX_REQUEST_BODY + 1)
        if len(data) > MAX_REQUEST_BODY:
            raise ValueError(f"The request body is over {MAX_REQUEST_BODY} bytes.")
        return data
    return b""


def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key == "CONTENT_TYPE" and value:
            name = "Content-Type"
        else:
            continue
        if name.lower() not in _HOP_BY_HOP:
            headers[name] = value
    return headers


def _buffer(answer: Any, method: str) -> tuple[bytes, bool]:
    """Read a JSON-sized answer whole; (what was read, whether the rest must stream)."""
    if method == "HEAD":
        return answer.read(decode_content=False) or b"", False
    kind = answer.headers.get("content-type", "").lower()
    length = answer.headers.get("content-length", "")
    if kind.startswith(_STREAMED_TYPES) or (length.isdigit() and int(length) > BUFFER_LIMIT):
        return b"", True
    data = answer.read(BUFFER_LIMIT + 1, decode_content=False)
    return data, len(data) > BUFFER_LIMIT


def _decoded(raw: bytes, headers: dict[str, str]) -> bytes | None:
    """The body as the server meant it (gzip and deflate undone); None if unreadable."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return zlib.decompress(raw)
    except zlib.error:
        return None
    return None


def _discard(answer: Any, unread: bool) -> None:
    """Give the upstream connection back; one with an unread body is closed instead, so the
    next request on it does not read this answer's rest."""
    if unread:
        answer.close()
    answer.release_conn()


class _Stream:
    """The rest of an answer, chunk by chunk; the upstream connection is released at the end
    (closed if the client went away before the end)."""

    def __init__(self, answer: Any, head: bytes) -> None:
        self._answer, self._head, self._done = answer, head, False

    def __iter__(self) -> Iterator[bytes]:
        if self._head:
            yield self._head
        yield from self._answer.stream(64 * 1024, decode_content=False)
        self._done = True

    def close(self) -> None:
        _discard(self._answer, not self._done)


def _annotations(verdict: Verdict, upstream_headers: dict[str, str],
                 extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    extra = list(extra)
    for name, findings in ((VIOLATIONS_HEADER, verdict.violations),
                           (REQUEST_PROBLEMS_HEADER, verdict.request_problems)):
        if findings:
            rules = ", ".join(dict.fromkeys(f.rule for f in findings))
            extra.append((name, f"{len(findings)}; {rules}"))
    if extra and "access-control-allow-origin" in upstream_headers:
        # Let browser code read the annotations too (the upstream's list plus ours).
        exposed = upstream_headers.get("access-control-expose-headers", "")
        names = ", ".join(n for n, _ in extra)
        extra.append(("Access-Control-Expose-Headers", f"{exposed}, {names}" if exposed
                      else names))
    return extra


def _error(start_response: Callable, status: int, code: str, message: str,
           headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    start_response(f"{status} {_reason(status)}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    *(headers or [])])
    return [body]


def _violation_error(start_response: Callable, violations: tuple[Finding, ...],
                     headers: list[tuple[str, str]]) -> list[bytes]:
    """--errors: the answer broke the contract, so the client gets a 502 naming the rules."""
    rules = list(dict.fromkeys(f.rule for f in violations))
    message = "The upstream's answer breaks the contract: " + "; ".join(
        f"rule {f.rule}: {f.detail}" for f in violations)
    body = json.dumps({"error": {"code": "contract_violation", "message": message,
                                 "rules": rules}}).encode()
    # The upstream's own Access-Control-Expose-Headers would be replaced by ours: drop it.
    headers = [(k, v) for k, v in headers if k.lower() != "access-control-expose-headers"
               or VIOLATIONS_HEADER in v]
    start_response("502 Bad Gateway", [("Content-Type", "application/json"),
                                       ("Content-Length", str(len(body))), *headers])
    return [body]
