"""The one YAML loader of the kit: parsed documents kept in memory for the process and on
disk between runs, and the kit's cache directory.

Every part that reads the spec (the mock's validators, the claims schemas, the control
client, the contract suite) asks `document(path)`: one parse per process, shared. The
documents are shared, so callers treat them as read-only.

Parsing the bundled spec takes ~40 ms, most of a pytest fixture's start; reading it back
takes about a millisecond. Documents are kept as `marshal` data (plain values, no code) in
a file named by a hash of the YAML's bytes and of the loader, so an edited file is parsed
afresh. A document marshal cannot hold (a YAML timestamp) is simply not kept, and a cache
that cannot be read or written is ignored: the YAML is the truth, this only remembers it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import marshal
import os
from pathlib import Path
from typing import Any

import yaml

from envoy_events_kit import control_spec_path, spec_path

#: libyaml's loader when PyYAML was built with it (several times faster), else Python's.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def cache_root() -> Path:
    """`$ENVOY_EVENTS_CACHE_DIR`, else the user's cache directory for the kit."""
    override = os.environ.get("ENVOY_EVENTS_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_cache_path("envoy-events-kit")


def load_yaml(raw: bytes, loader: type) -> Any:
    """`yaml.load(raw, Loader=loader)`, from the cache when these bytes were parsed before."""
    key = hashlib.sha256(b"%s\0%s\0%s" % (yaml.__version__.encode(), loader.__name__.encode(),
                                           raw)).hexdigest()[:40]
    kept = cache_root() / "yaml" / f"{key}.marshal"
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
        return marshal.loads(kept.read_bytes())
    document = yaml.load(raw, Loader=loader)  # YAMLError goes to the caller, as without us
    with contextlib.suppress(OSError, ValueError):
        data = marshal.dumps(document)
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_name(f"{kept.name}.{os.getpid()}.tmp")
        partial.write_bytes(data)
        os.replace(partial, kept)  # readers see the whole file or none
    return document


@functools.lru_cache(maxsize=16)
def _document(path: Path, mtime_ns: int) -> Any:
    return load_yaml(path.read_bytes(), LOADER)


def document(path: Path) -> Any:
    """The parsed YAML file, once per process (read again only when the file changes)."""
    path = Path(path).resolve()
    return _document(path, path.stat().st_mtime_ns)


def spec_document() -> dict[str, Any]:
    """The events API contract, `openapi/events.yaml`, parsed (read-only)."""
    return document(spec_path())


def control_spec_document() -> dict[str, Any]:
    """The mock's control API, `openapi/mock-control.yaml`, parsed (read-only)."""
    return document(control_spec_path())
