"""`envoy-events mock --state-file`: state survives restarts, even a SIGKILL mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.config import ConfigError

from envoy_events_kit.cli import main
from tests.cli_mock import free_port, spawn_mock
from tests.conftest import ACME, ADA, ADMIN, GLOBEX, bearer


def _app(state_file: Path):
    app = create_app({"strict": True, "state_file": state_file})
    app.testing = True
    return app.test_client()


def test_a_restart_keeps_orgs_principals_and_endpoints(tmp_path):
    state_file = tmp_path / "state.json"
    client = _app(state_file)
    created = client.post("/__mock__/principals", json={
        "org_id": GLOBEX, "user_id": ADA, "scopes": ["shipments:read"], "name": "kept",
        "expires_at": "2100-01-01T00:00:00Z"}).get_json()
    assert client.put(f"/__mock__/orgs/{GLOBEX}", json={"provisioned": True}).status_code == 200
    endpoint = client.post(f"/__mock__/orgs/{GLOBEX}/webhook_endpoints",
                           json={"url": "http://127.0.0.1:9/one"}).get_json()
    assert client.get("/events/deprovision", headers=bearer(ADMIN)).status_code == 204
    before = client.get("/__mock__/state").get_json()["organisations"]

    restarted = _app(state_file)
    assert restarted.get("/__mock__/state").get_json()["organisations"] == before
    orgs = {o["id"]: o for o in before}
    assert orgs[ACME]["provisioned"] is False
    assert orgs[GLOBEX]["webhook_endpoints"] == [endpoint]
    # The created principal still authenticates, with its scopes and organisation.
    response = restarted.get("/events/subscription_token", headers=bearer(created["token"]),
                             json={"channel": f"shipments:{GLOBEX}"})
    assert response.status_code == 200
    # Ids keep counting after the restart: no clash with what was handed out before.
    again = restarted.post("/__mock__/principals",
                           json={"org_id": GLOBEX, "user_id": ADA}).get_json()
    assert again["token"] != created["token"]


def test_reset_is_persisted_too(tmp_path):
    state_file = tmp_path / "state.json"
    client = _app(state_file)
    client.put(f"/__mock__/orgs/{GLOBEX}", json={"provisioned": True})
    client.post("/__mock__/reset")
    orgs = {o["id"]: o for o in _app(state_file).get("/__mock__/state").get_json()[
        "organisations"]}
    assert orgs[GLOBEX]["provisioned"] is False


def test_the_file_is_plain_json_and_written_without_leftovers(tmp_path):
    state_file = tmp_path / "state.json"
    client = _app(state_file)
    client.put(f"/__mock__/orgs/{GLOBEX}", json={"provisioned": True})
    data = json.loads(state_file.read_text())
    assert data["format"] == "envoy-events-mock-state/1"
    assert {o["id"]: o["provisioned"] for o in data["state"]["organisations"]}[GLOBEX] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


@pytest.mark.parametrize("content", ["{not json", '{"format": "other"}', "[]",
                                     '{"format": "envoy-events-mock-state/1", "state": {}}'])
def test_a_file_that_is_not_a_state_file_is_refused_clearly(tmp_path, content):
    state_file = tmp_path / "state.json"
    state_file.write_text(content)
    with pytest.raises(ConfigError, match="not a mock state file"):
        create_app({"state_file": state_file})
    assert state_file.read_text() == content  # never overwritten


def test_the_cli_says_what_is_wrong_in_one_line(tmp_path):
    state_file = tmp_path / "missing-dir" / "state.json"
    result = CliRunner().invoke(main, ["mock", "--port", "0", "--state-file", str(state_file)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: --state-file {state_file}: the directory {state_file.parent} does not exist"]


# -- SIGKILL in the middle of a write burst -------------------------------------------------

def _spawn(state_file: Path, port: int) -> subprocess.Popen:
    return spawn_mock("--state-file", str(state_file), port=port)[0]


def test_sigkill_during_a_write_burst_loses_no_acknowledged_change(tmp_path):
    state_file = tmp_path / "state.json"
    port = free_port()
    base = f"http://127.0.0.1:{port}/__mock__"
    process = _spawn(state_file, port)
    acknowledged: dict[str, list] = {"principals": [], "endpoints": [], "orgs": []}
    lock = threading.Lock()
    stop = threading.Event()

    def burst(worker: int) -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            n += 1
            org = f"org_{worker:02d}{n:025d}"
            try:
                if n % 3 == 0:
                    r = session.post(f"{base}/principals", timeout=5, json={
                        "org_id": ACME, "user_id": ADA, "scopes": ["shipments:read"]})
                    kind, value = "principals", r.json()["token"] if r.status_code == 201 else None
                elif n % 3 == 1:
                    r = session.put(f"{base}/orgs/{org}", json={"provisioned": True}, timeout=5)
                    kind, value = "orgs", org if r.status_code == 200 else None
                else:
                    r = session.post(f"{base}/orgs/{ACME}/webhook_endpoints", timeout=5,
                                     json={"url": f"http://127.0.0.1:9/{worker}/{n}"})
                    kind, value = "endpoints", r.json()["id"] if r.status_code == 201 else None
            except (requests.RequestException, ValueError):
                return  # the server died: whatever was not answered was not acknowledged
            assert value is not None, r.text
            with lock:
                acknowledged[kind].append(value)

    workers = [threading.Thread(target=burst, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(map(len, acknowledged.values())) < 150:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    for worker in workers:
        worker.join()
    assert sum(map(len, acknowledged.values())) >= 150

    json.loads(state_file.read_text())  # readable, not torn
    process = _spawn(state_file, port)
    try:
        state = requests.get(f"{base}/state", timeout=5).json()
        orgs = {o["id"]: o for o in state["organisations"]}
        assert set(acknowledged["orgs"]) <= {i for i, o in orgs.items() if o["provisioned"]}
        kept = {e["id"] for e in orgs[ACME]["webhook_endpoints"]}
        assert set(acknowledged["endpoints"]) <= kept
        for token in acknowledged["principals"]:
            r = requests.get(f"http://127.0.0.1:{port}/events/connection_token",
                             headers=bearer(token), timeout=5)
            assert r.status_code == 200, (token, r.text)  # known token, provisioned org
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_an_organisation_added_to_the_fixtures_later_is_taken_from_them(tmp_path):
    """Issue 20: the state file wins for what it holds; an organisation added to the fixtures
    after it was saved answers as the fixtures say (it used to answer 409), and every
    disagreement is named in the banner."""
    import yaml
    from envoy_events_kit.mock_server import MockServer
    from envoy_events_kit.mock_server.serving.cli_support import banner

    from envoy_events_kit import default_fixtures_path

    state_file = tmp_path / "state.json"
    client = _app(state_file)
    assert client.put(f"/__mock__/orgs/{ACME}", json={"provisioned": False}).status_code == 200
    fixtures = yaml.safe_load(default_fixtures_path().read_text())
    new_org, new_user = "org_2ZZZVNs2QURl4yY6owPARekUbMa", "usr_2ZZZVRrmnPTXTcZIuzXLZdnigLW"
    fixtures["organisations"][new_org] = {"name": "Newco", "provisioned": True,
                                          "webhook_endpoints": []}
    fixtures["users"][new_user] = {"name": "Nina New", "organisation": new_org}
    fixtures["tokens"]["newco"] = {"token": "dev-newco-0000000000000001", "user": new_user,
                                   "scopes": ["shipments:read"]}
    edited = tmp_path / "fixtures.yaml"
    edited.write_text(yaml.safe_dump(fixtures))

    server = MockServer({"state_file": state_file, "fixtures_path": edited})
    client = server.app.test_client()
    answer = client.get("/events/connection_token", headers=bearer("dev-newco-0000000000000001"))
    assert answer.status_code == 200, answer.get_json()
    assert client.get("/events/connection_token", headers=bearer(ADMIN)).status_code == 409
    server.start()
    try:
        text = banner(server)
    finally:
        server.stop()
    assert f"State: {state_file} (--state-file) wins over the fixtures" in text
    assert f"{ACME}: not provisioned in the state file, provisioned in the fixtures" in text
    assert f"{new_org}: not in the state file, taken from the fixtures" in text
