"""The token claims as the spec defines them (`ConnectionTokenClaims`, `SubscriptionTokenClaims`).

The mock's minter builds its payloads from these schemas and the contract suite checks issued
tokens against them, so the claim names live in `openapi/events.yaml` only. Each claim names,
in `x-mock-value`, the value the mock puts there (`user_id`, `issued_at`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from envoy_events_kit.documents import spec_document

CONNECTION = "ConnectionTokenClaims"
SUBSCRIPTION = "SubscriptionTokenClaims"
_URI = "urn:envoy-events:events.yaml"


@dataclass(frozen=True)
class Claims:
    """One token kind's claims: where each claim sits and what value fills it."""

    name: str
    #: (claim path, value name) in the schema's property order, e.g. (("info", "org"), "org_id").
    layout: tuple[tuple[tuple[str, ...], str], ...]
    validator: Any

    def build(self, values: dict[str, Any]) -> dict[str, Any]:
        """The payload with every claim filled from `values` (keyed by `x-mock-value`)."""
        payload: dict[str, Any] = {}
        for path, value in self.layout:
            node = payload
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = values[value]
        return payload

    def path_of(self, value: str) -> tuple[str, ...]:
        """Where the claim filled with `value` sits; KeyError if this kind has none."""
        for path, name in self.layout:
            if name == value:
                return path
        raise KeyError(value)

    def get(self, payload: Any, value: str) -> Any:
        """The claim that carries `value` in a decoded payload, None when absent."""
        try:
            node = payload
            for key in self.path_of(value):
                node = node[key]
        except (KeyError, TypeError):
            return None
        return node

    def problems(self, payload: Any) -> list[str]:
        """Every way `payload` breaks the schema, as sentences (empty when it conforms)."""
        return [f"{'/'.join(map(str, e.absolute_path)) or 'payload'}: {e.message}"
                for e in self.validator.iter_errors(payload)]


def _layout(schema: dict[str, Any], prefix: tuple[str, ...]):
    for name, prop in schema.get("properties", {}).items():
        path = (*prefix, name)
        if "x-mock-value" in prop:
            yield path, prop["x-mock-value"]
        else:
            yield from _layout(prop, path)


@lru_cache(maxsize=4)
def claims(name: str) -> Claims:
    """The claims schema `name` of the bundled spec."""
    document = spec_document()
    schema = document["components"]["schemas"][name]
    registry = Registry().with_resource(_URI, Resource(document, DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{_URI}#/components/schemas/{name}"},
                                     registry=registry)
    return Claims(name, tuple(_layout(schema, ())), validator)
