"""envoy-events-kit: the front door shared by the mock, the contract suite and the CLI.

It only knows where the bundled contract and fixtures live, so that every part of the kit
reads the same files whether it runs from a checkout or from an installed wheel.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["spec_path", "control_spec_path", "default_fixtures_path", "resource_path"]

_HERE = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Find a bundled file: inside the installed package first, then in the checkout."""
    for root in (_HERE, _HERE.parent):
        candidate = root.joinpath(*parts)
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"bundled file {'/'.join(parts)} is missing from envoy-events-kit")


def spec_path() -> Path:
    """The events API contract, `openapi/events.yaml`."""
    return resource_path("openapi", "events.yaml")


def control_spec_path() -> Path:
    """The mock's control API, `openapi/mock-control.yaml`."""
    return resource_path("openapi", "mock-control.yaml")


def default_fixtures_path() -> Path:
    """The default fixtures, `fixtures/default.yaml`."""
    return resource_path("fixtures", "default.yaml")
