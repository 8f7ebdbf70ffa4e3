"""The npm `centrifuge` browser client the dashboard connects with: fetched, never committed.

`envoy-events realtime install` runs `npm pack` for the pinned version into a temporary
folder, checks the tarball against the pinned integrity hash (the one in
`tests/realtime_js/package-lock.json`, so the tests and the dashboard run the same client) and
keeps only its self-contained browser build (`dist/centrifuge.js`, its source map and its
licence) in the kit's cache beside Centrifugo. The mock serves it from there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from envoy_events_kit.documents import cache_root

CLIENT_PACKAGE = "centrifuge"
CLIENT_VERSION = "5.8.0"
#: `integrity` of node_modules/centrifuge in tests/realtime_js/package-lock.json.
CLIENT_INTEGRITY = ("sha512-ENH1jz6VeRuGb3yHNhgB0V0SqRKX+iYdtM9Du/E59m484epjNPfsgJw4UbmOm"
                    "jgSXGEita1UoOXlZ6Ba1ooT1g==")
#: What is kept of the package: tarball member -> file name in the cache.
KEPT = {"package/dist/centrifuge.js": "centrifuge.js",
        "package/dist/centrifuge.js.map": "centrifuge.js.map",
        "package/LICENSE": "LICENSE"}
SERVED = ("centrifuge.js", "centrifuge.js.map", "LICENSE")


class ClientUnavailable(RuntimeError):
    """The browser client could not be fetched; the message says why and what to do."""


def client_dir() -> Path:
    return cache_root() / "centrifuge-js" / f"v{CLIENT_VERSION}"


def client_file() -> Path | None:
    """The browser build, when it has been fetched."""
    path = client_dir() / "centrifuge.js"
    return path if path.is_file() else None


def integrity_of(data: bytes) -> str:
    """npm's Subresource Integrity form of a tarball: `sha512-<base64 digest>`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def install_browser_client(force: bool = False, echo: Callable[[str], None] = print,
                           npm: str | None = None) -> Path:
    """Fetch the pinned package with `npm pack`, check it, keep its browser build."""
    target = client_dir()
    if not force and client_file() is not None:
        echo(f"The {CLIENT_PACKAGE} {CLIENT_VERSION} browser client is already installed: "
             f"{target}")
        return target
    npm = npm or shutil.which("npm")
    if npm is None:
        raise ClientUnavailable(
            "npm is not installed, so the dashboard's live events fall back to the mock's own "
            "event list; install Node.js (with npm), then run `envoy-events realtime install`")
    echo(f"Fetching the {CLIENT_PACKAGE} {CLIENT_VERSION} browser client with npm into "
         f"{target}...")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        tarball = _pack(npm, Path(work))
        data = tarball.read_bytes()
        if integrity_of(data) != CLIENT_INTEGRITY:
            raise ClientUnavailable(
                f"the {CLIENT_PACKAGE}@{CLIENT_VERSION} tarball npm fetched does not match the "
                f"pinned integrity hash ({integrity_of(data)[:24]}..., expected "
                f"{CLIENT_INTEGRITY[:24]}...): not installed")
        staged = Path(work) / "kept"
        staged.mkdir()
        _extract(tarball, staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    echo(f"Installed: {target / 'centrifuge.js'}")
    return target


def _pack(npm: str, work: Path) -> Path:
    command = [npm, "pack", f"{CLIENT_PACKAGE}@{CLIENT_VERSION}", "--json", "--silent",
               "--pack-destination", str(work)]
    try:
        result = subprocess.run(command, cwd=work, capture_output=True, text=True,
                                timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClientUnavailable(f"`npm pack {CLIENT_PACKAGE}@{CLIENT_VERSION}` failed: "
                                f"{exc}") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ClientUnavailable(f"`npm pack {CLIENT_PACKAGE}@{CLIENT_VERSION}` failed "
                                f"(exit {result.returncode}): {last}")
    try:
        name = json.loads(result.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError):
        name = f"{CLIENT_PACKAGE}-{CLIENT_VERSION}.tgz"
    tarball = work / Path(name).name
    if not tarball.is_file():
        raise ClientUnavailable(f"`npm pack` wrote no {tarball.name}")
    return tarball


def _extract(tarball: Path, into: Path) -> None:
    """Only the kept members, written under fixed names (no path from the archive is used)."""
    with tarfile.open(tarball, "r:gz") as archive:
        for member, name in KEPT.items():
            try:
                info = archive.getmember(member)
            except KeyError:
                raise ClientUnavailable(f"the package has no {member}") from None
            source = archive.extractfile(info) if info.isfile() else None
            if source is None:
                raise ClientUnavailable(f"{member} in the package is not a file")
            (into / name).write_bytes(source.read())
