"""The spec is read once per process, at start: no request parses YAML."""

from __future__ import annotations

import yaml
from envoy_events_kit.mock_server import create_app

from envoy_events_kit import documents, spec_path

ADMIN = {"Authorization": "Bearer dev-admin-acme-5d1f0c2b7a9e4c31"}
CHANNEL = "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa#usr_26ZZVRrmnPTXTcZIuzXLZdnigLW"


def test_no_request_parses_yaml(monkeypatch):
    app = create_app({"clock": "2026-01-01T00:00:00Z"})
    parses = []
    for module, name in ((yaml, "load"), (yaml, "safe_load"), (documents, "load_yaml")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _real=real, _name=name, **k: parses.append(_name)
                            or _real(*a, **k))
    client = app.test_client()
    assert client.get("/events/connection_token", headers=ADMIN).status_code == 200
    answer = client.get("/events/subscription_token", headers=ADMIN, json={"channel": CHANNEL})
    assert answer.status_code == 200
    assert parses == []


def test_one_document_per_file_shared_by_every_reader():
    assert documents.spec_document() is documents.document(spec_path())
    assert documents.spec_document()["openapi"].startswith("3.")
