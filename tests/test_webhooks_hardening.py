"""Webhook delivery that holds up against bad input and hostile receivers (issues 17 and 20):
targets checked where the connection is made, secrets checked where they come in, a worker
that survives any one delivery, a total deadline and a body cap per attempt, a bounded
delivery log, and state changes (delete, snapshot, restart, clock) that deliveries follow."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import yaml
from envoy_events_kit.mock_server.config import ConfigError
from envoy_events_kit.mock_server.events.webhooks.delivery import parse_schedule
from envoy_events_kit.mock_server.serving.handle import EventsMock
from envoy_events_kit.mock_server.state.fixtures import FixturesError

from envoy_events_kit import default_fixtures_path
from tests.conftest import ACME

SHIPMENT = {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "delivered"}
ORDER = {"id": "ord_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "packed"}
FAST = (0.0, 0.2, 0.4)
FROZEN = "2026-01-01T00:00:00Z"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `condition` until it is truthy (returned) or the timeout passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(0.02)


def control(mock: EventsMock, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{mock.url}/__mock__{path}", timeout=10, **kwargs)


# -- issue 20: an endpoint that wants no event type keeps wanting none ----------------------

def test_an_empty_event_types_list_survives_a_snapshot_round_trip():
    with EventsMock.start({"webhook_retry_schedule": FAST}) as mock, \
            mock.webhook_receiver("admin") as everything:
        nothing = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/none", event_types=[])
        assert nothing["event_types"] == []
        snapshot = control(mock, "GET", "/snapshot").json()
        assert control(mock, "PUT", "/snapshot", json=snapshot).status_code == 204
        (after,) = [e for e in mock.webhook_endpoints(ACME) if e["id"] == nothing["id"]]
        assert after["event_types"] == []
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        everything.assert_delivered(type="shipment.updated", times=1)
        assert mock.deliveries(endpoint=nothing["id"]) == []  # made at publish time, or never


def test_an_empty_event_types_list_survives_a_restart_with_a_state_file(tmp_path):
    settings = {"state_file": tmp_path / "state.json"}
    with EventsMock.start(settings) as mock:
        nothing = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/none", event_types=[])
    with EventsMock.start(settings) as again:
        (after,) = [e for e in again.webhook_endpoints(ACME) if e["id"] == nothing["id"]]
        assert after["event_types"] == []
        again.publish("order.updated", ORDER, organisation=ACME)
        assert again.deliveries(endpoint=nothing["id"]) == []


# -- issue 20: a deleted endpoint gets nothing more -----------------------------------------

def test_deleting_an_endpoint_cancels_its_queued_retries():
    # A frozen clock holds every retry until the test moves it: no race with the delete.
    with EventsMock.start({"webhook_retry_schedule": (0.0, 5.0), "clock": FROZEN}) as mock, \
            mock.webhook_receiver("admin") as deleted, mock.webhook_receiver("admin") as kept:
        deleted.respond_with(500, times=5)
        kept.respond_with(500, times=1)
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        for receiver in (deleted, kept):
            wait_until(lambda r=receiver: mock.deliveries(endpoint=r.endpoint_id)[0]["attempts"])
        mock.delete_webhook_endpoint(ACME, deleted.endpoint_id)
        (after,) = mock.deliveries(endpoint=deleted.endpoint_id)
        assert after["status"] == "cancelled" and after["next_attempt_at"] is None
        mock.advance_clock(5)  # both retries are due; the kept one is sent
        wait_until(lambda: mock.deliveries(endpoint=kept.endpoint_id)[0]["status"] == "delivered")
        assert len(deleted.received) == 1
        assert len(mock.deliveries(endpoint=deleted.endpoint_id)[0]["attempts"]) == 1


def test_a_queued_delivery_whose_endpoint_went_away_by_a_snapshot_is_not_sent():
    with EventsMock.start({"webhook_retry_schedule": (0.0, 5.0), "clock": FROZEN}) as mock:
        before = control(mock, "GET", "/snapshot").json()  # without the receiver's endpoint
        with mock.webhook_receiver("admin") as receiver:
            receiver.respond_with(500)
            mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
            wait_until(lambda: mock.deliveries(endpoint=receiver.endpoint_id)[0]["attempts"])
            assert control(mock, "PUT", "/snapshot", json=before).status_code == 204
            (row,) = mock.deliveries(endpoint=receiver.endpoint_id)
            assert row["status"] == "cancelled"
            mock.advance_clock(5)
            assert mock.deliveries(endpoint=receiver.endpoint_id)[0]["status"] == "cancelled"
            assert len(receiver.received) == 1


# -- issue 17 finding 2: webhook targets checked where it matters ----------------------------

def _create(mock: EventsMock, url: str, **body: Any) -> requests.Response:
    return control(mock, "POST", f"/orgs/{ACME}/webhook_endpoints", json={"url": url, **body})


def _mock_port(mock: EventsMock) -> int:
    return int(mock.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(("url", "why"), [
    ("http://192.0.2.2:9\\@127.0.0.1:9/x", "backslash"),  # urllib3 would connect to 192.0.2.2
    ("http://192.0.2.2:9@127.0.0.1:9/x", "credentials"),
    ("http://user:secret@127.0.0.1:9/x", "credentials"),
    ("http://2130706433:9/x", "dotted decimal"),  # 127.0.0.1 as one decimal number
    ("http://0177.0.0.1:9/x", "dotted decimal"),  # octal
    ("http://0x7f.0.0.1:9/x", "dotted decimal"),  # hex
    ("http://127.1:9/x", "dotted decimal"),  # short form
    ("http://[::ffff:192.0.2.2]:9/x", "not a loopback address"),  # IPv6-mapped, not loopback
    ("http://127.0.0.1:9/x y", "spaces"),
])
def test_urls_that_parsers_read_differently_are_refused(url, why):
    with EventsMock.start() as mock:
        response = _create(mock, url)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_request"
        assert why in response.json()["error"]["message"]
        assert "user:secret" not in response.text  # a password in a URL is not echoed
        assert mock.webhook_endpoints(ACME)[-1]["url"] != url


def test_an_ipv6_mapped_loopback_address_is_loopback():
    with EventsMock.start() as mock:
        assert _create(mock, "http://[::ffff:127.0.0.1]:9/x").status_code == 201


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.0.0.2", "[::ffff:127.0.0.1]"])
def test_the_mock_itself_is_never_a_target(host):
    with EventsMock.start() as mock:
        response = _create(mock, f"http://{host}:{_mock_port(mock)}/__mock__/reset")
        assert response.status_code == 400, response.text
        assert "the mock itself" in response.json()["error"]["message"]


def _resolving(monkeypatch, names: dict[str, str]) -> None:
    """`socket.getaddrinfo` answers `names` with the given address (as DNS could, later)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in names:
            return real(names[host], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_every_resolved_address_is_checked_when_the_attempt_is_made(monkeypatch):
    with EventsMock.start({"webhook_retry_schedule": FAST, "webhook_timeout_s": 1.0}) as mock:
        endpoint = mock.add_webhook_endpoint(ACME, "http://localhost:9/in")  # loopback, now
        _resolving(monkeypatch, {"localhost": "192.0.2.2"})  # ... and elsewhere later
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        row = wait_until(lambda: [d for d in mock.deliveries(endpoint=endpoint["id"])
                                  if d["status"] != "pending"])[0]
        assert row["status"] == "blocked", row
        assert "resolves to 192.0.2.2" in row["attempts"][-1]["error"]
        assert row["attempts"][-1]["status_code"] is None


def test_a_name_that_resolves_to_the_mock_is_refused_when_the_attempt_is_made(monkeypatch):
    with EventsMock.start({"allowed_webhook_hosts": ("hooks.test",),
                           "webhook_retry_schedule": FAST}) as mock:
        _resolving(monkeypatch, {"hooks.test": "127.0.0.1"})  # DNS rebinding, in effect
        endpoint = mock.add_webhook_endpoint(
            ACME, f"http://hooks.test:{_mock_port(mock)}/__mock__/reset")
        principal = mock.create_principal(ACME, "usr_2D5rtQ8vjKZs7bseYmdHYlQU5AO")
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        row = wait_until(lambda: [d for d in mock.deliveries(endpoint=endpoint["id"])
                                  if d["status"] != "pending"])[0]
        assert row["status"] == "blocked" and "the mock itself" in row["attempts"][-1]["error"]
        assert control(mock, "GET", "/snapshot").json()["state"]["principals"][0]["token"] \
            == principal["token"]  # not reset by its own webhook


# -- issue 17 finding 4: a secret cannot kill delivery -----------------------------------------

BAD_SECRET = "whsec_" + "A" * 33  # base64 with one character too many: no key decodes from it


def test_a_secret_the_signing_library_cannot_use_is_a_400_naming_the_field():
    with EventsMock.start() as mock:
        for secret in (BAD_SECRET, "whsec_" + "=" * 32, "whsec_" + "A" * 31 + "="):
            response = _create(mock, "http://127.0.0.1:9/x", secret=secret)
            assert response.status_code == 400, (secret, response.text)
            error = response.json()["error"]
            assert error["code"] == "invalid_request" and "secret" in error["message"]
            assert secret not in response.text
        assert all(e["url"] != "http://127.0.0.1:9/x" for e in mock.webhook_endpoints(ACME))


def test_a_snapshot_with_a_bad_secret_is_refused_and_changes_nothing():
    with EventsMock.start() as mock:
        snapshot = control(mock, "GET", "/snapshot").json()
        acme = next(o for o in snapshot["state"]["organisations"] if o["id"] == ACME)
        acme["webhook_endpoints"].append({"id": "ep_bad", "url": "http://127.0.0.1:9/x",
                                          "secret": BAD_SECRET})
        response = control(mock, "PUT", "/snapshot", json=snapshot)
        assert response.status_code == 400
        assert "webhook_endpoints/1/secret" in response.json()["error"]["message"]
        assert all(e["id"] != "ep_bad" for e in mock.webhook_endpoints(ACME))


def test_a_state_file_with_a_bad_secret_is_refused_at_start(tmp_path):
    settings = {"state_file": tmp_path / "state.json"}
    with EventsMock.start(settings) as mock:
        mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/x")
    saved = json.loads(settings["state_file"].read_text())
    acme = next(o for o in saved["state"]["organisations"] if o["id"] == ACME)
    acme["webhook_endpoints"][-1]["secret"] = BAD_SECRET
    settings["state_file"].write_text(json.dumps(saved))
    with pytest.raises(ConfigError, match=r"webhook_endpoints/1/secret") as refused:
        EventsMock.start(settings)
    assert BAD_SECRET not in str(refused.value)


def test_a_fixtures_file_with_a_bad_secret_names_the_field(tmp_path):
    data = yaml.safe_load(default_fixtures_path().read_text())
    data["organisations"][ACME]["webhook_endpoints"][0]["secret"] = BAD_SECRET
    path = tmp_path / "fixtures.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(FixturesError, match=rf"organisations/{ACME}/webhook_endpoints/0/secret"):
        EventsMock.start({"fixtures_path": path})


def _sign_fails_for(monkeypatch, secret: str, exc: BaseException) -> None:
    """Signing raises for one endpoint's secret (a secret that got past every check)."""
    from standardwebhooks import Webhook

    real = Webhook.sign

    def sign(self, msg_id, timestamp, data):
        if self._whsecret == Webhook(secret)._whsecret:
            raise exc
        return real(self, msg_id, timestamp, data)

    monkeypatch.setattr(Webhook, "sign", sign)


def test_one_endpoint_whose_signing_fails_does_not_stop_deliveries_to_the_others(monkeypatch):
    with EventsMock.start({"webhook_retry_schedule": FAST}) as mock, \
            mock.webhook_receiver("admin") as good:
        bad = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/bad")
        _sign_fails_for(monkeypatch, bad["secret"], ValueError(f"cannot use {bad['secret']}"))
        for n in range(6):
            mock.publish("order.updated", {**ORDER, "lines": n}, organisation=ACME)
        got = good.assert_delivered(type="order.updated", times=6, timeout=10)
        assert len({g.webhook_id for g in got}) == 6
        failed = wait_until(lambda: len(mock.deliveries(endpoint=bad["id"], status="failed"))
                            == 6 and mock.deliveries(endpoint=bad["id"], status="failed"))
        errors = {a["error"] for d in failed for a in d["attempts"]}
        assert len(failed[0]["attempts"]) == len(FAST)
        assert errors == {"the mock could not send it: ValueError: cannot use [redacted]"}
        health = mock.state()["webhooks"]
        assert health["workers_alive"] == health["workers"] == 2
        assert health["internal_errors"] == 6 * len(FAST)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_died_anyway_is_replaced_and_reported(monkeypatch):
    with EventsMock.start({"webhook_retry_schedule": (0.0,)}) as mock, \
            mock.webhook_receiver("admin") as good:
        bad = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/bad")
        _sign_fails_for(monkeypatch, bad["secret"], SystemExit())  # ends its thread
        first = mock.publish("order.updated", ORDER, organisation=ACME)["event"]["id"]
        good.wait_for(1)
        wait_until(lambda: mock.state()["webhooks"]["workers_alive"] == 1)
        monkeypatch.undo()
        mock.publish("order.updated", {**ORDER, "lines": 2}, organisation=ACME)
        good.assert_delivered(type="order.updated", times=2)
        health = mock.state()["webhooks"]
        assert health["workers_alive"] == 2 and health["worker_restarts"] == 1
        (lost,) = mock.deliveries(endpoint=bad["id"], event=first)  # not pending forever
        assert lost["status"] == "failed"
        assert lost["attempts"][-1]["error"] == "the delivery worker stopped during this attempt"


# -- issue 17 finding 6: one deadline per attempt, a cap on what is read -----------------------

class RawReceiver:
    """A receiver on a raw socket: it reads each request's headers, then `answer(conn,
    stop)` writes whatever it likes, as slowly as it likes, until `stop` is set."""

    def __init__(self, answer: Callable[[socket.socket, threading.Event], None]) -> None:
        self._answer = answer
        self.stop = threading.Event()
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/hooks"
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.requests += 1
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            with contextlib.suppress(OSError):  # the mock hung up: what a deadline does
                self._answer(conn, self.stop)


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A status line and headers that never end, one byte every 50 ms."""
    for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 1000):
        if stop.wait(0.05):
            return
        conn.sendall(bytes([byte]))


def endless_body(conn: socket.socket, stop: threading.Event) -> None:
    """A 200 whose body never ends (no length: until the connection closes)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"x" * 16384)


def test_receivers_that_trickle_their_answer_do_not_hold_the_workers_past_the_deadline():
    with EventsMock.start({"webhook_retry_schedule": (0.0,), "webhook_timeout_s": 1.0}) as mock, \
            RawReceiver(trickle) as slow1, RawReceiver(trickle) as slow2:
        slow = [mock.add_webhook_endpoint(ACME, r.url)["id"] for r in (slow1, slow2)]
        with mock.webhook_receiver("admin") as healthy:  # queued behind both trickles
            began = time.monotonic()
            mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
            healthy.assert_delivered(type="shipment.updated", times=1, timeout=5)
            assert time.monotonic() - began < 3.5  # 1 s deadline, two workers
        for endpoint in slow:
            row = wait_until(lambda e=endpoint: mock.deliveries(endpoint=e, status="failed"))[0]
            (attempt,) = row["attempts"]
            assert attempt["error"] == "no answer within 1 s"
            assert 1000 <= attempt["latency_ms"] < 2500
        assert slow1.requests == slow2.requests == 1


def trickle_tls(conn: socket.socket, stop: threading.Event) -> None:
    """A TLS handshake record announced 16 KiB long, then one byte of it every 50 ms."""
    conn.sendall(b"\x16\x03\x03\x40\x00")
    while not stop.wait(0.05):
        conn.sendall(b"\x00")


class RawTLSReceiver(RawReceiver):
    """A RawReceiver whose peer speaks first (a TLS client does), so it answers at once."""

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self._answer(conn, self.stop)


def test_a_tls_handshake_that_trickles_is_cut_at_the_deadline_too():
    # Not a finding (CPython bounds a whole handshake by the socket timeout): it guards the
    # https path of the mock's own transport.
    with EventsMock.start({"webhook_retry_schedule": (0.0,), "webhook_timeout_s": 1.0}) as mock, \
            RawTLSReceiver(trickle_tls) as slow:
        endpoint = mock.add_webhook_endpoint(ACME, slow.url.replace("http:", "https:"))
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        row = wait_until(lambda: mock.deliveries(endpoint=endpoint["id"], status="failed"))[0]
        (attempt,) = row["attempts"]
        assert attempt["error"] == "no answer within 1 s"
        assert 1000 <= attempt["latency_ms"] < 2000


def test_only_the_first_64_kib_of_an_answer_are_read_and_the_cut_is_recorded():
    with EventsMock.start({"webhook_retry_schedule": (0.0,), "webhook_timeout_s": 2.0}) as mock, \
            RawReceiver(endless_body) as talker:
        endpoint = mock.add_webhook_endpoint(ACME, talker.url)
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        row = wait_until(lambda: [d for d in mock.deliveries(endpoint=endpoint["id"])
                                  if d["status"] != "pending"])[0]
        (attempt,) = row["attempts"]
        assert row["status"] == "delivered" and attempt["status_code"] == 200
        assert attempt["response_bytes"] == 65536 and attempt["response_truncated"] is True
        assert attempt["latency_ms"] < 2000  # cut at the cap, not at the deadline


def test_a_short_answer_is_read_whole():
    with EventsMock.start({"webhook_retry_schedule": (0.0,)}) as mock, \
            mock.webhook_receiver("admin") as receiver:
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        receiver.wait_for(1)
        row = wait_until(lambda: mock.deliveries(endpoint=receiver.endpoint_id,
                                                 status="delivered"))[0]
        assert row["attempts"][0]["response_bytes"] == 0
        assert row["attempts"][0]["response_truncated"] is False


# -- issue 17 finding 7: the delivery log is bounded, pending deliveries are kept --------------

def test_the_log_drops_the_oldest_completed_deliveries_first_and_counts_them():
    with EventsMock.start({"webhook_retry_schedule": (0.0,), "webhook_log_size": 6}) as mock, \
            mock.webhook_receiver("admin") as receiver:
        published = []
        for n in range(5):  # two deliveries each: the receiver, the fixture endpoint (blocked)
            published.append(mock.publish("order.updated", {**ORDER, "lines": n},
                                          organisation=ACME)["event"]["id"])
            receiver.wait_for(n + 1)
            wait_until(lambda: not mock.deliveries(status="pending"))
        rows = mock.deliveries()
        assert len(rows) == 6
        assert [r["event_id"] for r in rows] == [e for e in published[2:] for _ in (1, 2)]
        log = mock.state()["webhooks"]["log"]
        assert log["deliveries"] == 6 and log["max_deliveries"] == 6
        assert log["dropped"] == 4 and log["refused"] == 0


def test_pending_deliveries_are_never_dropped_a_full_log_refuses_new_ones_and_says_so():
    settings = {"webhook_retry_schedule": (0.0, 3600.0), "webhook_log_size": 4}
    with EventsMock.start(settings) as mock, mock.webhook_receiver("admin") as receiver:
        receiver.respond_with(500, times=100)  # every delivery waits an hour for its retry
        answers = [mock.publish("order.updated", ORDER, organisation=ACME)["webhooks"]
                   for _ in range(4)]  # the fixture endpoint's blocked ones make room
        assert all("refused" not in a and len(a["deliveries"]) == 2 for a in answers)
        pending = {d["id"] for d in mock.deliveries(endpoint=receiver.endpoint_id)}
        assert len(pending) == 4
        full = mock.publish("order.updated", ORDER, organisation=ACME)["webhooks"]
        assert full == {"deliveries": [], "refused": 2}
        rows = mock.deliveries()
        assert {r["id"] for r in rows} == pending and {r["status"] for r in rows} == {"pending"}
        log = mock.state()["webhooks"]["log"]
        assert log["dropped"] == 4 and log["refused"] == 2


@pytest.mark.parametrize("bound", ["webhook_log_size", "webhook_log_bytes"])
def test_the_log_bounds_must_be_positive(bound):
    with pytest.raises(ConfigError, match=bound):
        EventsMock.start({bound: 0})


def test_the_log_is_bounded_in_bytes_too():
    big = {**ORDER, "note": "x" * 3000}
    settings = {"webhook_retry_schedule": (0.0,), "webhook_log_bytes": 20_000}
    with EventsMock.start(settings) as mock:
        for _ in range(10):
            mock.publish("order.updated", big, organisation=ACME)  # blocked: done at once
        log = mock.state()["webhooks"]["log"]
        assert log["body_bytes"] <= 20_000 < log["body_bytes"] + 3000
        assert log["deliveries"] + log["dropped"] == 10 and log["dropped"] > 0


# -- issue 20: retry schedules run on the mock's clock -----------------------------------------

def test_the_svix_schedule_runs_on_the_mock_clock_and_moving_it_brings_the_next_attempt():
    with EventsMock.start({"webhook_retry_schedule": parse_schedule("svix"),
                           "clock": FROZEN}) as mock, \
            mock.webhook_receiver("admin") as receiver:
        receiver.respond_with(500, times=2)
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        receiver.wait_for(1, verified=None)

        def due() -> str | None:
            row = mock.deliveries(endpoint=receiver.endpoint_id)[0]
            return row["next_attempt_at"] if len(row["attempts"]) == len(receiver.received) \
                else None

        assert wait_until(due) == "2026-01-01T00:00:05.000Z"  # 5 s on the mock's clock
        mock.advance_clock(5)
        assert len(receiver.wait_for(2, verified=None, timeout=3)) == 2
        assert wait_until(due) == "2026-01-01T00:05:05.000Z"  # then 5 min
        mock.advance_clock(300)
        got = receiver.wait_for(3, verified=None, timeout=3)
        assert [r.answered for r in got] == [500, 500, 204]
        row = wait_until(lambda: mock.deliveries(endpoint=receiver.endpoint_id,
                                                 status="delivered"))[0]
        assert [a["status_code"] for a in row["attempts"]] == [500, 500, 204]
