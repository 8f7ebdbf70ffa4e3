"""The built wheel, installed into a fresh virtualenv outside the checkout, is the whole kit:
the contract and fixtures are inside it, `envoy-events mock` serves, and a consumer suite
runs against the installed plugin.

Dependencies come from the package index (pip's cache makes repeat runs quick).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from tests.conftest import ADMIN

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = {"envoy_events_kit/openapi/events.yaml", "envoy_events_kit/openapi/mock-control.yaml",
           "envoy_events_kit/fixtures/default.yaml", "envoy_events_kit/pytest_plugin.py",
           "envoy_events_kit/mock_server/control/client.py",
           "envoy_events_kit/fixtures/scenarios/shipment-journey.yaml",
           "envoy_events_kit/realtime_client.py", "envoy_events_kit/names.py",
           "envoy_events_kit/mock_server/events/realtime/process.py",
           "envoy_events_kit/mock_server/events/webhooks/delivery.py",
           "envoy_events_kit/mock_server/control/static/index.html",
           "envoy_events_kit/mock_server/control/static/dashboard.css",
           "envoy_events_kit/mock_server/control/static/js/main.js",
           "envoy_events_kit/proxy/app.py", "envoy_events_kit/parity/runner.py"}


def _env() -> dict[str, str]:
    """The outside world as a fresh shell sees it: no checkout on the path, no test settings."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
            and not k.startswith(("PYTEST_", "ENVOY_EVENTS_"))} | {"PYTHONUNBUFFERED": "1"}


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT, cwd=out)
    [built] = out.glob("envoy_events_kit-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv outside the checkout with only the wheel (and its dependencies)."""
    home = tmp_path_factory.mktemp("fresh")
    assert ROOT not in home.parents
    _run(sys.executable, "-m", "venv", home / "venv", cwd=home)
    _run(home / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", wheel, cwd=home)
    return home / "venv"


def test_the_wheel_carries_the_contract_fixtures_and_entry_points(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names
                            if n.endswith(".dist-info/entry_points.txt"))
    assert names >= BUNDLED
    pytest11 = entry_points.split("[pytest11]")[1]
    assert "envoy_events = envoy_events_kit.pytest_plugin" in pytest11
    assert "envoy-events = envoy_events_kit.cli:main" in entry_points


def test_installed_kit_serves_and_runs_a_consumer_suite(venv, tmp_path):
    bin_dir = venv / "bin"
    site = Path(_run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_path("
                     "'purelib'))", cwd=tmp_path).strip())

    # `envoy-events spec` points into the installed package, for stock tools.
    spec = Path(_run(bin_dir / "envoy-events", "spec", cwd=tmp_path).strip())
    control = Path(_run(bin_dir / "envoy-events", "spec", "--control", cwd=tmp_path).strip())
    assert spec == site / "envoy_events_kit" / "openapi" / "events.yaml"
    assert control.parent == spec.parent and spec.read_text() == (ROOT / "openapi" /
                                                                   "events.yaml").read_text()

    # `envoy-events mock` serves from the installed wheel alone.
    mock = subprocess.Popen([bin_dir / "envoy-events", "mock", "--port", "0", "--clock",
                             "2026-01-01T00:00:00Z"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = mock.stdout.readline()
        match = re.match(r"envoy-events mock serving (http://127\.0\.0\.1:\d+) .*fixtures: (\S+)\)",
                         banner)
        assert match, banner
        url, fixtures = match.groups()
        assert Path(fixtures) == site / "envoy_events_kit" / "fixtures" / "default.yaml"
        answer = requests.get(f"{url}/events/connection_token", timeout=10,
                              headers={"Authorization": f"Bearer {ADMIN}"})
        assert answer.status_code == 200
        page = requests.get(f"{url}/__mock__/ui", timeout=10)  # the dashboard, from the wheel
        assert page.status_code == 200 and "envoy-events mock" in page.text
        assert requests.get(f"{url}/__mock__/ui/js/live.js", timeout=10).status_code == 200

        # The consumer example, copied outside the checkout, against the installed plugin;
        # its events_base_url / events_token test goes to the CLI mock above.
        suite = tmp_path / "consumer_suite"
        shutil.copytree(ROOT / "examples" / "consumer_suite", suite,
                        ignore=shutil.ignore_patterns("__pycache__"))
        output = _run(bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "--events-base-url", url, "--events-token", ADMIN, cwd=suite)
        assert re.search(r"\b8 passed\b", output), output
        journal = requests.get(f"{url}/__mock__/journal", timeout=10).json()["entries"]
        assert [e["operation_id"] for e in journal if e["operation_id"]] == [
            "getConnectionToken", "getSubscriptionToken"]
    finally:
        mock.send_signal(signal.SIGTERM)
        rest, _ = mock.communicate(timeout=20)
    assert mock.returncode == 0, rest
    assert "envoy-events mock stopped." in rest


def test_a_project_with_its_own_mock_server_and_contract_tests_packages(venv, tmp_path):
    """The kit installs nothing top-level but `envoy_events_kit`: a project whose own packages
    are called `mock_server` and `contract_tests` keeps them, and the plugin still loads."""
    project = tmp_path / "service"
    for package in ("mock_server", "contract_tests"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f"OWNER = 'the service ({package})'\n")
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\npythonpath = ["."]\naddopts = "-p no:cacheprovider"\n')
    (project / "tests").mkdir()
    (project / "tests" / "test_service.py").write_text(
        "import contract_tests, mock_server, requests\n\n"
        "def test_own_packages_and_the_plugin(events_mock):\n"
        "    assert mock_server.OWNER == 'the service (mock_server)'\n"
        "    assert contract_tests.OWNER == 'the service (contract_tests)'\n"
        "    r = requests.get(events_mock.url + '/events/connection_token',\n"
        "                     headers=events_mock.headers('admin'), timeout=10)\n"
        "    assert r.status_code == 200\n")
    output = _run(venv / "bin" / "python", "-m", "pytest", "-q", cwd=project)
    assert re.search(r"\b1 passed\b", output), output
    site = Path(_run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path("
                     "'purelib'))", cwd=tmp_path).strip())
    assert not (site / "mock_server").exists() and not (site / "contract_tests").exists()


def test_the_base_install_has_no_contract_suite_dependencies_and_says_what_to_install(
        venv, tmp_path):
    """Suites that only want `events_mock` do not pay for Schemathesis and Hypothesis (their
    pytest plugins load in every run); the contract CLI says which extra brings them."""
    python = venv / "bin" / "python"
    found = _run(python, "-c", "import importlib.util as u; print([m for m in ('schemathesis',"
                 " 'hypothesis') if u.find_spec(m)])", cwd=tmp_path)
    assert found.strip() == "[]"
    result = subprocess.run([venv / "bin" / "envoy-events", "contract"], cwd=tmp_path,
                            env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "envoy-events-kit[contract]" in result.stderr and "Traceback" not in result.stderr
