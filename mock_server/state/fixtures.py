"""Read and check a fixtures file into plain records, failing with the file and field named."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from envoy_events_kit.documents import LOADER, load_yaml
from envoy_events_kit.instants import InstantError, parse_instant
from envoy_events_kit.names import did_you_mean

from ..events.webhooks.endpoints import secret_problem
from ..spec import Spec, first_error
from .model import Organisation, Principal, WebhookEndpoint

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["namespaces", "organisations", "users", "tokens"],
    "properties": {
        "provisioning_scope": {"type": "string", "minLength": 1},
        "namespaces": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["scope"],
                "properties": {"scope": {"type": "string", "minLength": 1}},
            },
        },
        "organisations": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "provisioned": {"type": "boolean"},
                    "webhook_endpoints": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["id", "url"],
                            "properties": {
                                "id": {"type": "string"},
                                "url": {"type": "string"},
                                "secret": {"type": "string",
                                           "pattern": "^whsec_[A-Za-z0-9+/=]{32,}$"},
                                "event_types": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    },
                },
            },
        },
        "users": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["organisation"],
                "properties": {"name": {"type": "string"}, "organisation": {"type": "string"}},
            },
        },
        "tokens": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": ["token", "user", "scopes"],
                "properties": {
                    "token": {"type": "string", "minLength": 8, "pattern": "^[\\x21-\\x7e]+$"},
                    "user": {"type": "string"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                    "expires_at": {"type": "string"},
                },
            },
        },
    },
}
_VALIDATOR = Draft202012Validator(_SCHEMA)


class FixturesError(ValueError):
    """A fixtures file the mock cannot start with; names the file and the field."""


@dataclass(frozen=True)
class Fixtures:
    path: Path
    provisioning_scope: str
    namespaces: dict[str, str]  # namespace -> scope that grants it
    organisations: dict[str, Organisation]
    principals: dict[str, Principal]  # bearer token -> principal
    users: dict[str, str] = field(default_factory=dict)  # user id -> organisation id

    def fresh_organisations(self) -> dict[str, Organisation]:
        """Copies the store may mutate without touching the fixtures."""
        return {
            org.id: Organisation(org.id, org.provisioned, list(org.webhook_endpoints), org.name)
            for org in self.organisations.values()
        }


def load(path: Path, spec: Spec) -> Fixtures:
    """Parse `path`; raise FixturesError naming the file and field on any problem."""
    path = Path(path)
    try:
        data = load_yaml(path.read_text(encoding="utf-8").encode(), LOADER)
    except OSError as exc:
        raise FixturesError(f"{path}: cannot read the fixtures file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise FixturesError(f"{path}: not a UTF-8 text file") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FixturesError(f"{path}: not valid YAML{where}: "
                            f"{getattr(exc, 'problem', None) or exc}") from exc
    problem = first_error(_VALIDATOR, data)
    if problem:
        raise FixturesError(f"{path}: {problem}")
    return _build(path, data, spec)


def _check(path: Path, field: str, validator: Any, value: Any) -> None:
    problem = first_error(validator, value)
    if problem:
        raise FixturesError(f"{path}: {field}: {problem}")


def _build(path: Path, data: dict[str, Any], spec: Spec) -> Fixtures:
    org_id, user_id, channel = (spec.component(n) for n in ("OrganisationId", "UserId", "Channel"))
    some_org = "org_" + "0" * 27
    namespaces = {}
    for name, entry in data["namespaces"].items():
        # A namespace is valid when a channel built from it fits the spec's grammar.
        _check(path, f"namespaces/{name}", channel, f"{name}:{some_org}")
        namespaces[name] = entry["scope"]
    organisations = {}
    for oid, entry in data["organisations"].items():
        _check(path, f"organisations/{oid}", org_id, oid)
        endpoints = []
        for n, e in enumerate(entry.get("webhook_endpoints", [])):
            problem = "secret" in e and secret_problem(e["secret"])
            if problem:
                raise FixturesError(f"{path}: organisations/{oid}/webhook_endpoints/{n}/secret: "
                                    f"{problem}")
            endpoints.append(WebhookEndpoint(
                e["id"], e["url"], e.get("secret", ""),
                tuple(e["event_types"]) if "event_types" in e else None))
        organisations[oid] = Organisation(
            oid, entry.get("provisioned", False), endpoints, entry.get("name")
        )
    users = {}
    for uid, entry in data["users"].items():
        _check(path, f"users/{uid}", user_id, uid)
        if entry["organisation"] not in organisations:
            raise FixturesError(f"{path}: users/{uid}/organisation: "
                                f"{entry['organisation']!r} is not in organisations")
        users[uid] = entry["organisation"]
    principals = {}
    provisioning_scope = data.get("provisioning_scope", "events:admin")
    granting = {*namespaces.values(), provisioning_scope}
    for name, entry in data["tokens"].items():
        field = f"tokens/{name}"
        for scope in entry["scopes"]:
            if scope not in granting:  # a typo would silently grant nothing
                raise FixturesError(f"{path}: {field}/scopes: "
                                    f"{did_you_mean('scope', scope, granting)}")
        if entry["user"] not in users:
            raise FixturesError(f"{path}: {field}/user: {entry['user']!r} is not in users")
        if entry["token"] in principals:
            raise FixturesError(f"{path}: {field}/token: the same token is given twice")
        expires_at = None
        if "expires_at" in entry:
            try:
                expires_at = parse_instant(entry["expires_at"])
            except InstantError as exc:
                raise FixturesError(f"{path}: {field}/expires_at: {exc}") from None
        principals[entry["token"]] = Principal(
            token=entry["token"], user_id=entry["user"], org_id=users[entry["user"]],
            scopes=frozenset(entry["scopes"]), expires_at=expires_at, name=name,
        )
    return Fixtures(
        path=path,
        provisioning_scope=provisioning_scope,
        namespaces=namespaces,
        organisations=organisations,
        principals=principals,
        users=users,
    )
