"""The frontend developer's path to the stand-in (issue 19): `make stand-in` installs only
what the mock needs, the first Centrifugo build says what it does while it does it, and
`envoy-events realtime install` fetches the pinned npm `centrifuge` browser client (checked
against the lock file's integrity hash) for the dashboard. Go and npm are replaced by small
scripts here: what is tested is what the kit does with them."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from envoy_events_kit.mock_server.events.realtime import browser_client
from envoy_events_kit.mock_server.events.realtime.browser_client import (
    CLIENT_INTEGRITY,
    CLIENT_VERSION,
    ClientUnavailable,
    install_browser_client,
    integrity_of,
)
from envoy_events_kit.mock_server.events.realtime.install import CENTRIFUGO_VERSION, install

from tests.cli_mock import ENVOY_EVENTS

ROOT = Path(__file__).parents[1]


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


# -- make stand-in ----------------------------------------------------------------------

def test_make_stand_in_installs_the_runtime_only_then_the_realtime_parts(tmp_path):
    """Dry run with a virtualenv that does not exist yet: what a first `make stand-in` does."""
    venv = tmp_path / "venv"
    result = subprocess.run(["make", "-n", "stand-in", f"VENV={venv}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    installs = [line for line in result.stdout.splitlines() if "pip install" in line
                and "--upgrade pip" not in line]
    assert installs and all(line.rstrip().endswith("-e .") for line in installs), installs
    assert "[dev]" not in result.stdout and "[test]" not in result.stdout
    assert f"{venv}/bin/envoy-events realtime install" in result.stdout
    assert f"{venv}/bin/envoy-events mock --realtime" in result.stdout


# -- the first Centrifugo build says what it does -----------------------------------------

FAKE_GO = """
# Stands in for `go install -v ...`: downloads, then compiles, slowly; then the binary.
echo "go: downloading github.com/centrifugal/centrifuge v0.38.0"
echo "go: downloading github.com/redis/rueidis v1.0.60"
sleep 0.5
echo "github.com/centrifugal/centrifuge"
sleep 0.5
echo "github.com/centrifugal/centrifugo/v6/internal/build"
echo "github.com/centrifugal/centrifugo/v6"
cat > "$GOBIN/centrifugo" <<'EOF'
#!/bin/sh
echo "Centrifugo v{version} (Go version: go1.25.0)"
EOF
chmod +x "$GOBIN/centrifugo"
"""


def test_a_first_build_shows_what_is_built_and_a_heartbeat(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "go", FAKE_GO.replace("{version}", CENTRIFUGO_VERSION))
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ENVOY_EVENTS_CENTRIFUGO", raising=False)
    lines: list[str] = []
    binary = install(echo=lines.append, heartbeat_s=0.2)
    assert binary == tmp_path / "cache" / "centrifugo" / f"v{CENTRIFUGO_VERSION}" / "centrifugo"
    first, last = lines[0], lines[-1]
    assert f"Building Centrifugo v{CENTRIFUGO_VERSION}" in first
    assert "expected: about 3 to 5 minutes" in first and "every 0.2 s" in first
    beats = [line for line in lines[1:-1] if line.startswith("  ... ")]
    assert len(beats) >= 3, lines  # the build ran ~1 s: a line every 0.2 s
    assert any("downloading modules; 2 modules downloaded" in b for b in beats), beats
    assert any("compiling;" in b and "packages compiled" in b for b in beats), beats
    assert all(" s: " in b for b in beats)  # each says how long it has been
    assert last.startswith(f"Installed: {binary}") and "3 packages compiled" in last


def test_a_failed_build_shows_go_s_last_lines(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _script(bin_dir / "go", 'echo "go: github.com/x@v1: reading proxy: 404 Not Found"\nexit 1\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ENVOY_EVENTS_CENTRIFUGO", raising=False)
    lines: list[str] = []
    with pytest.raises(Exception, match="failed .exit 1."):
        install(echo=lines.append, heartbeat_s=5)
    assert "  go: github.com/x@v1: reading proxy: 404 Not Found" in lines


# -- the centrifuge browser client --------------------------------------------------------

def test_the_pinned_client_is_the_one_the_js_tests_lock():
    lock = json.loads((ROOT / "tests" / "realtime_js" / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/centrifuge"]
    assert (locked["version"], locked["integrity"]) == (CLIENT_VERSION, CLIENT_INTEGRITY)


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _fake_npm(tmp_path: Path, tarball: bytes) -> Path:
    """`npm pack NAME@V --json --silent --pack-destination DIR` writing the given tarball."""
    source = tmp_path / "package.tgz"
    source.write_bytes(tarball)
    return _script(tmp_path / "npm", f"""
dest=""
while [ $# -gt 0 ]; do [ "$1" = "--pack-destination" ] && dest="$2"; shift; done
cp {source} "$dest/centrifuge-{CLIENT_VERSION}.tgz"
echo '[{{"filename": "centrifuge-{CLIENT_VERSION}.tgz"}}]'
""")


PACKAGE = {"package/dist/centrifuge.js": b"globalThis.Centrifuge = class {};\n",
           "package/dist/centrifuge.js.map": b"{}",
           "package/LICENSE": b"MIT",
           "package/build/index.mjs": b"export {};",
           "package/../../escape.txt": b"never written"}


def test_the_client_is_kept_only_when_its_hash_is_the_pinned_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path / "cache"))
    tarball = _tarball(PACKAGE)
    npm = _fake_npm(tmp_path, tarball)
    with pytest.raises(ClientUnavailable, match="does not match the pinned integrity hash"):
        install_browser_client(npm=str(npm), echo=lambda line: None)
    assert browser_client.client_file() is None

    monkeypatch.setattr(browser_client, "CLIENT_INTEGRITY", integrity_of(tarball))
    lines: list[str] = []
    kept = install_browser_client(npm=str(npm), echo=lines.append)
    assert sorted(p.name for p in kept.iterdir()) == ["LICENSE", "centrifuge.js",
                                                      "centrifuge.js.map"]
    assert (kept / "centrifuge.js").read_bytes() == PACKAGE["package/dist/centrifuge.js"]
    assert not list(tmp_path.rglob("escape.txt"))
    assert lines[-1] == f"Installed: {kept / 'centrifuge.js'}"
    again: list[str] = []
    install_browser_client(npm=str(npm), echo=again.append)
    assert again == [f"The centrifuge {CLIENT_VERSION} browser client is already installed: "
                     f"{kept}"]


def test_without_npm_the_install_warns_and_still_succeeds(tmp_path):
    """The stand-in works without the client (the dashboard falls back): a warning."""
    cache = tmp_path / "cache"
    binary = cache / "centrifugo" / f"v{CENTRIFUGO_VERSION}" / "centrifugo"
    binary.parent.mkdir(parents=True)
    _script(binary, f'echo "Centrifugo v{CENTRIFUGO_VERSION} (Go version: go1.25.0)"\n')
    nothing = tmp_path / "empty"
    nothing.mkdir()
    env = {**os.environ, "ENVOY_EVENTS_CACHE_DIR": str(cache), "PATH": str(nothing)}
    env.pop("ENVOY_EVENTS_CENTRIFUGO", None)
    result = subprocess.run([str(ENVOY_EVENTS), "realtime", "install"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "already installed" in result.stdout
    assert "warning: the dashboard's centrifuge browser client: npm is not installed" in \
        result.stderr
    assert "envoy-events realtime install" in result.stderr and "Traceback" not in result.stderr
