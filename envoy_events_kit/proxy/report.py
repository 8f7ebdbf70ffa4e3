"""Findings gathered by rule, and the ways to show them: JSON, a text summary and Markdown
tables (the JUnit and summary files: `ci_report.py`). Nothing here ever holds a bearer token
or an issued JWT: requests are described through `redact`, and findings carry sentences that
name claims, never token values.

The proxy and the parity run share it: a rule is counted once per occurrence and shown with
the first request that showed it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from envoy_events_kit.redaction import REDACTED, Redactor

#: Query parameters whose values are credentials on any API.
_SECRET_PARAMS = re.compile(r"token|secret|password|key|auth|signature|code", re.I)
MAX_BODY_SHOWN = 300


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret and whatever looks like one (JWTs, bearer values,
    webhook secrets) replaced: the kit's one redactor."""
    return Redactor(secrets)(text)


def describe_request(method: str, path: str, query: str, body: bytes,
                     authorization: str | None, secrets: Iterable[str] = ()) -> str:
    """One line for a person: method, path, query and body, credentials redacted."""
    secrets = [*secrets, credential(authorization)]
    pairs = parse_qsl(query, keep_blank_values=True)
    shown = urlencode([(k, REDACTED if _SECRET_PARAMS.search(k) else v) for k, v in pairs],
                      safe=":#,")
    line = f"{method} {path}" + (f"?{shown}" if shown else "")
    if body:
        text = body[:MAX_BODY_SHOWN].decode("utf-8", "replace")
        line += f" body {text}" + ("..." if len(body) > MAX_BODY_SHOWN else "")
    if authorization is None:
        line += " (no Authorization)"
    else:
        scheme = authorization.strip().partition(" ")[0] or "(empty)"
        line += f" (Authorization: {scheme} {REDACTED})"
    return redact(line, secrets)


def credential(authorization: str | None) -> str:
    """The secret part of an Authorization value (empty when too short to redact safely)."""
    value = (authorization or "").strip().partition(" ")[2].strip()
    return value if len(value) >= 4 else ""


@dataclass
class RuleTally:
    """Every occurrence of one rule: how many, and the first request and sentence."""

    rule: str
    count: int = 0
    example_request: str = ""
    example_detail: str = ""
    details: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "count": self.count, "request": self.example_request,
                "detail": self.example_detail, "details": dict(self.details)}


MAX_DETAILS = 20


class Tally:
    """Thread-safe counts by rule, keeping the first example of each."""

    def __init__(self) -> None:
        self._rules: dict[str, RuleTally] = {}
        self._lock = threading.Lock()

    def add(self, rule: str, detail: str, request: str) -> None:
        with self._lock:
            entry = self._rules.get(rule)
            if entry is None:
                entry = self._rules[rule] = RuleTally(rule, 0, request, detail)
            entry.count += 1
            if detail in entry.details or len(entry.details) < MAX_DETAILS:
                entry.details[detail] = entry.details.get(detail, 0) + 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(t.count for t in self._rules.values())

    def rules(self) -> list[RuleTally]:
        with self._lock:
            return sorted((RuleTally(t.rule, t.count, t.example_request, t.example_detail,
                                     dict(t.details)) for t in self._rules.values()),
                          key=lambda t: (-t.count, t.rule))

    def as_list(self) -> list[dict[str, Any]]:
        return [t.as_dict() for t in self.rules()]


def text_lines(title: str, tallies: list[RuleTally], empty: str) -> list[str]:
    """A plain-text block: one line per rule with its count, then its first example."""
    lines = [f"{title}: {sum(t.count for t in tallies)}"]
    if not tallies:
        return [*lines, f"  {empty}"]
    width = max(len(t.rule) for t in tallies)
    for t in tallies:
        lines.append(f"  {t.rule:<{width}}  {t.count:>5}  {t.example_detail}")
        lines.append(f"  {'':<{width}}         e.g. {t.example_request}")
    return lines


def markdown_table(tallies: list[RuleTally]) -> list[str]:
    if not tallies:
        return ["None.", ""]
    lines = ["| rule | count | first seen | request |", "|---|---:|---|---|"]
    for t in tallies:
        lines.append(f"| `{t.rule}` | {t.count} | {_cell(t.example_detail)} | "
                     f"`{_cell(t.example_request)}` |")
    return [*lines, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
