"""How big a YAML document is once its aliases are expanded, measured without expanding it.

YAML aliases let a few hundred bytes stand for gigabytes ("billion laughs"). PyYAML's safe
loader shares one Python object per anchor, so the loaded document is small in memory, but
everything that walks it later (JSON encoding, webhook bodies, `GET /__mock__/events`)
expands it. Here each shared node is measured once: one pass over the distinct nodes.
"""

from __future__ import annotations

import json
from typing import Any


class RecursiveAlias(ValueError):
    """A node that contains itself (`&a [*a]`): it has no finite expansion."""


def json_size(value: Any, memo: dict[int, int] | None = None) -> int:
    """Bytes of `value` as compact JSON, aliases expanded (strings counted with their
    escapes; values JSON cannot hold counted as their text). RecursionError when the
    document nests deeper than Python's recursion limit."""
    return _size(value, {} if memo is None else memo, set())


def _size(value: Any, memo: dict[int, int], active: set[int]) -> int:
    if isinstance(value, str):
        return len(json.dumps(value))
    if value is None or isinstance(value, bool):
        return 4 if value in (None, True) else 5
    if isinstance(value, int | float):
        return len(repr(value))
    if not isinstance(value, dict | list):
        return len(json.dumps(str(value)))
    key = id(value)
    if key in memo:
        return memo[key]
    if key in active:
        raise RecursiveAlias("an alias refers to a node that contains it")
    active.add(key)
    if isinstance(value, dict):
        size = 2 + sum(_size(k, memo, active) + 1 + _size(v, memo, active)
                       for k, v in value.items())
    else:
        size = 2 + sum(_size(item, memo, active) for item in value)
    size += max(len(value) - 1, 0)  # commas
    active.discard(key)
    memo[key] = size
    return size
