"""Nothing secret in anything the kit writes: the contract suite's terminal, JUnit, summary
and report, the proxy's and the parity run's reports.

Two nets. The secrets the suite knows (bearer tokens given or minted, the signing secret) are
replaced wherever they appear. And whatever has the shape of a secret is replaced even when
nobody told the suite about it: issued JWTs, whole or shortened by a repr (`eyJhbG...ifX0.sig`),
`Authorization`/`X-API-Key` values, Standard Webhooks secrets (`whsec_...`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
_B64 = r"[A-Za-z0-9_-]"
#: What follows `Bearer ` when it is a credential and not prose: 8+ characters, a digit.
_CREDENTIAL = r"(?=[^\s'\"<>,;]*\d)[^\s'\"<>,;]{8,}"
#: A JWT or any piece of one that starts at its header (`eyJ` is `{"` in base64url), followed
#: by its other parts, also across the `...` or `…` a repr puts where it shortened it.
JWT = re.compile(rf"eyJ{_B64}*(?:(?:\.{{1,3}}|…|\\u2026)+{_B64}+)*")
_PATTERNS = [
    (JWT, "[redacted JWT]"),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_" + REDACTED),
    (re.compile(rf"(?i)\b(bearer|apikey)(\s+){_CREDENTIAL}"), rf"\1\2{REDACTED}"),
    (re.compile(rf"(?i)(x-api-key['\"]?\s*[:=]\s*['\"]?){_CREDENTIAL}"), rf"\1{REDACTED}"),
]


class Redactor:
    """Replaces known secrets and secret-shaped strings; add secrets as they are learnt."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        self.secrets.update(s for s in secrets if s and len(s) >= 4)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text
