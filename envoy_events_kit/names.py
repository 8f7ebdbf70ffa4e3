"""One way to refuse a name that is not there: say which one was meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnknownName(KeyError):
    """A name (operation, principal, scope, ...) that does not exist; its message says which
    known one is closest."""

    def __str__(self) -> str:
        return str(self.args[0])


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to `name` (a likely typo of it), or None."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=1)
    return close[0] if close else None


def hint(name: str, known: Iterable[str]) -> str:
    """` Did you mean 'y'?` for a sentence that follows, or `` when nothing is close."""
    close = closest(name, known)
    return f" Did you mean {close!r}?" if close else ""


def did_you_mean(kind: str, name: str, known: Iterable[str]) -> str:
    """`unknown operation 'x': did you mean 'y'? (known: ...)`."""
    choices = sorted(set(known))
    close = closest(name, choices)
    suggestion = f": did you mean {close!r}?" if close else ""
    return f"unknown {kind} {name!r}{suggestion} (known: {', '.join(choices)})"


def check(kind: str, name: str, known: Iterable[str]) -> str:
    """`name` if it is known; UnknownName with a did-you-mean otherwise."""
    known = set(known)
    if name not in known:
        raise UnknownName(did_you_mean(kind, name, known))
    return name
