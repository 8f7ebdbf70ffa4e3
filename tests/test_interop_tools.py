"""Third-party tools hold the spec to account: Redocly CLI and Spectral lint both specs, and
Prism's validating proxy in front of the real mock passes the README walk-through in the
`?channel=` form. The tools are pinned in `tools/interop/package.json` (`make interop-tools`).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from envoy_events_kit import control_spec_path, spec_path
from tests.cli_mock import free_port, spawn_mock

TOOLS = Path(__file__).resolve().parent.parent / "tools" / "interop"
BIN = TOOLS / "node_modules" / ".bin"
SPECS = [str(spec_path()), str(control_spec_path())]
ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"
OWN = "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa#usr_26ZZVRrmnPTXTcZIuzXLZdnigLW"
OTHER = "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa#usr_27owyeeNEYU0sTDZWYnFg5PCMDZ"


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make interop-tools`")
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=TOOLS)


def test_redocly_recommended_reports_no_error() -> None:
    done = run(tool("redocly"), "lint", "--extends", "recommended", *SPECS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "valid" in done.stdout + done.stderr


def test_spectral_oas_reports_no_error() -> None:
    done = run(tool("spectral"), "lint", "--ruleset", str(TOOLS / ".spectral.yaml"),
               "--fail-severity", "error", *SPECS)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def prism():
    """Prism 5.14 `proxy --errors` in front of a mock on loopback; yields both URLs."""
    mock, upstream = spawn_mock()
    port = free_port()
    proxy = subprocess.Popen([tool("prism"), "proxy", str(spec_path()), upstream, "--errors",
                              "--host", "127.0.0.1", "--port", str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/events/connection_token", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("prism did not start")
        yield url, upstream
    finally:
        for process in (proxy, mock):
            process.terminate()
            process.wait(timeout=10)
        proxy.stdout.close()


#: The README walk-through, `?channel=` form: (token, method, path, query, expected status).
WALK = [
    (ADMIN, "GET", "/events/connection_token", None, 200),
    (ADMIN, "GET", "/events/subscription_token", {"channel": OWN}, 200),
    (ADMIN, "GET", "/events/subscription_token", {"channel": OTHER}, 403),
    (ADMIN, "GET", "/events/deprovision", None, 204),
    (ADMIN, "GET", "/events/connection_token", None, 409),
    (ADMIN, "GET", "/events/provision", None, 204),
    (None, "GET", "/events/connection_token", None, 401),
    ("dev-expired-acme-9f1b3d5e7c2a4b60", "GET", "/events/connection_token", None, 401),
    ("dev-reader-acme-8b3e6f4a1c2d9e07", "GET", "/events/provision", None, 403),
    ("dev-admin-globex-6e4d2b8f0a1c3e57", "GET", "/events/connection_token", None, 409),
    # Prism refuses a request outside the spec itself (422) and never forwards it: it agrees
    # with the mock's 400 that `nope` is no channel.
    (ADMIN, "GET", "/events/subscription_token", {"channel": "nope"}, 422),
]


def test_prism_proxy_finds_no_violation_in_the_walk_through(prism) -> None:
    url, upstream = prism
    requests.post(f"{upstream}/__mock__/reset", timeout=10).raise_for_status()
    for token, method, path, query, status in WALK:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = requests.request(method, url + path, params=query, headers=headers,
                                    timeout=30)
        where = f"{method} {path} {query or ''} (token {token})"
        assert "sl-violations" not in response.headers, (
            f"{where}: {response.headers['sl-violations']}")
        assert response.status_code == status, f"{where}: {response.status_code} {response.text}"


def test_prism_refuses_the_body_on_get_form(prism) -> None:
    """The known limitation docs/spec-and-interop.md states: Prism will not forward it."""
    url, _ = prism
    response = requests.get(f"{url}/events/subscription_token", json={"channel": OWN},
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    assert response.status_code == 501
    assert "PROXY_UNSUPPORTED_REQUEST_BODY" in response.text
