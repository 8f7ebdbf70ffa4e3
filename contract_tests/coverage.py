"""Which documented statuses of each operation the run saw, and which it never did.

A green run that never saw a 409 has not shown that the target refuses tokens to an
unprovisioned organisation: the report says so, per operation, from the spec's own list.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml

from envoy_events_kit import spec_path


def documented() -> dict[str, tuple[str, str, list[str]]]:
    """operationId -> (method, path, the statuses its responses document), spec order."""
    raw = yaml.safe_load(spec_path().read_text())
    found = {}
    for path, item in raw.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                statuses = [str(s) for s in operation.get("responses", {})]
                found[operation["operationId"]] = (method.upper(), path, statuses)
    return found


def coverage(observed: Counter[tuple[str, str, int]]) -> dict[str, dict[str, Any]]:
    """operationId -> {"documented": [...], "observed": {status: count}, "not_observed": [...]}
    from the (method, path, status) counts of the suite's HTTP client."""
    result = {}
    for operation, (method, path, statuses) in documented().items():
        seen: Counter[str] = Counter()
        for (sent, where, status), count in observed.items():
            if sent == method and where.endswith(path):
                seen[str(status)] += count
        result[operation] = {
            "documented": statuses,
            "observed": dict(sorted(seen.items())),
            "not_observed": [s for s in statuses if s not in seen and s != "default"],
        }
    return result
