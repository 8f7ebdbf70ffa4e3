"""One way to refuse a name that is not there: say which one was meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnknownName(KeyError):
    """A name (operation, principal, scope, ...) that does not exist; its message says which
    known one is closest."""

    def __str__(self) -> str:
        return str(self.args[0])


def did_you_mean(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown operation 'x': did you mean 'y'? (known: ...)`."""
    choices = sorted(set(known))
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f": did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(choices)})"


def check(kind: str, name: str, known: Iterable[str]) -> str:
    """`name` if it is known; UnknownName with a did-you-mean otherwise."""
    known = set(known)
    if name not in known:
        raise UnknownName(did_you_mean(kind, name, known))
    return name
