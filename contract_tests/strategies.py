"""Hypothesis strategies for ids and channels, derived from who the caller is.

The caller's identity comes from its connection token (see `target.Identity`), so the same
strategies work against the mock and against a deployment whose fixtures we do not know.
"""

from __future__ import annotations

import re

from envoy_events_kit.contract_tests.target import Identity
from hypothesis import Phase
from hypothesis import strategies as st

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
NAMESPACE = re.compile(r"[a-z][a-z0-9_-]{1,31}")
#: The spec's Channel grammar, restated here only to keep malformed examples malformed;
#: test_schema checks that this equals the pattern in the spec.
CHANNEL_PATTERN = (
    r"^[a-z][a-z0-9_-]{1,31}:org_[0-9A-Za-z]{27}(#usr_[0-9A-Za-z]{27}(,usr_[0-9A-Za-z]{27})*)?$")
#: ECMA-262 `$` never matches before a trailing newline; Python's does, hence fullmatch.
CHANNEL = re.compile(CHANNEL_PATTERN[1:-1])
MAX_CHANNEL = 255
#: Hypothesis phases of the suite: no shrinking. Every shrink step is a request (rate-limited
#: against staging), and a failure already names the rule and shows the example as found.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


def ksuid() -> st.SearchStrategy[str]:
    """A 27-character base62 KSUID body."""
    return st.text(alphabet=BASE62, min_size=27, max_size=27)


def user_ids(exclude: str = "") -> st.SearchStrategy[str]:
    return ksuid().map(lambda k: f"usr_{k}").filter(lambda u: u != exclude)


def org_ids(exclude: str | None = "") -> st.SearchStrategy[str]:
    return ksuid().map(lambda k: f"org_{k}").filter(lambda o: o != exclude)


def namespaces(exclude: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    return st.from_regex(NAMESPACE, fullmatch=True).filter(lambda n: n not in exclude)


def valid(channel: str) -> bool:
    return bool(CHANNEL.fullmatch(channel)) and len(channel) <= MAX_CHANNEL


def own_channels(me: Identity) -> st.SearchStrategy[str]:
    """Channels the caller must be granted: an org channel of a granted namespace, or a
    user-limited one that lists the caller (alone or among others)."""
    ns = st.sampled_from(me.namespaces)
    others = st.lists(user_ids(me.user_id), max_size=3, unique=True)
    limited = st.builds(
        lambda n, users, at: f"{n}:{me.org_id}#" + ",".join(users[:at] + [me.user_id]
                                                              + users[at:]),
        ns, others, st.integers(0, 3))
    return st.one_of(ns.map(lambda n: f"{n}:{me.org_id}"), limited).filter(valid)


def foreign_user_channels(me: Identity) -> st.SearchStrategy[str]:
    """A granted namespace of the caller's org, limited to other users only: 403."""
    return st.builds(lambda n, users: f"{n}:{me.org_id}#" + ",".join(users),
                     st.sampled_from(me.namespaces),
                     st.lists(user_ids(me.user_id), min_size=1, max_size=3, unique=True))


def foreign_org_channels(me: Identity) -> st.SearchStrategy[str]:
    """A granted namespace of another organisation (with or without the caller listed): 403."""
    suffix = st.sampled_from(["", f"#{me.user_id}"])
    return st.builds(lambda n, org, s: f"{n}:{org}{s}", st.sampled_from(me.namespaces),
                     org_ids(me.org_id), suffix)


def ungranted_namespace_channels(me: Identity) -> st.SearchStrategy[str]:
    """The caller's own org and user, in a namespace its connection token does not list: 403."""
    suffix = st.sampled_from(["", f"#{me.user_id}"])
    return st.builds(lambda n, s: f"{n}:{me.org_id}{s}", namespaces(me.namespaces), suffix)


def _malformations(good: str) -> list[str]:
    ns, _, rest = good.partition(":")
    return [
        "", " ", good.upper(), good + " ", " " + good, good + "#", good + "#usr_",
        good.replace(":", "", 1), good.replace(":", "::", 1), f"{ns}:{rest[:-1]}",
        f"{ns}:{rest}x", f"A{good}", f"9{good}", f"{ns}/{rest}", good.replace("org_", "org-"),
        f"{good}#usr_{'a' * 27},", f"{good}#{'usr_' + 'a' * 27},usr_{'b' * 26}",
        f"{ns}:{rest}#" + ",".join(f"usr_{str(i).zfill(27)}" for i in range(9)),
        f"x:{rest}", f"{'n' * 33}:{rest}", good + "\n", good.replace("_", "\u00e9", 1),
    ]


def malformed_channels(me: Identity) -> st.SearchStrategy[str]:
    """Strings outside the channel grammar (or over 255 characters): 400."""
    good = f"{(me.namespaces or ('shipments',))[0]}:{me.org_id or 'org_' + 'A' * 27}"
    crafted = st.sampled_from(_malformations(good))
    random_text = st.text(max_size=40)
    return st.one_of(crafted, random_text).filter(lambda c: not valid(c))
