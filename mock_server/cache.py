"""The kit's cache directory, and parsed YAML kept in it between runs.

Parsing the bundled spec takes ~40 ms, most of a pytest fixture's start; reading it back
takes about a millisecond. Documents are kept as `marshal` data (plain values, no code) in
a file named by a hash of the YAML's bytes and of the loader, so an edited file is parsed
afresh. A document marshal cannot hold (a YAML timestamp) is simply not kept, and a cache
that cannot be read or written is ignored: the YAML is the truth, this only remembers it.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
from pathlib import Path
from typing import Any

import yaml


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
