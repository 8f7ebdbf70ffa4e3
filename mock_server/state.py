"""Everything one mock instance holds, attached to its Flask app (as Flask's tutorial `db.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from envoy_events_kit.mock_server import fixtures as fixtures_module
from envoy_events_kit.mock_server.config import Settings
from envoy_events_kit.mock_server.journal import Faults, Journal
from envoy_events_kit.mock_server.spec import Spec
from envoy_events_kit.mock_server.store import Store
from envoy_events_kit.mock_server.tokens import Clock, Minter
from flask import Flask, current_app

from envoy_events_kit import control_spec_path, spec_path

_KEY = "envoy_events_mock"


@dataclass
class MockState:
    settings: Settings
    spec: Spec
    control_spec: Spec
    fixtures: fixtures_module.Fixtures
    store: Store
    clock: Clock
    minter: Minter
    journal: Journal
    faults: Faults

    def reset(self) -> None:
        """Back to the fixtures: state, clock, journal and faults."""
        self.store.reset()
        self.clock.set(self.settings.clock)
        self.journal.clear()
        self.faults.clear()


@lru_cache(maxsize=8)
def _spec(path: Path, mtime_ns: int) -> Spec:
    """Specs are read-only once compiled: apps of one process share them (a new app in the
    same process, e.g. per test, then costs no YAML parse); an edited file is read again."""
    return Spec(path)


def load_spec(path: Path) -> Spec:
    return _spec(path, path.stat().st_mtime_ns)


def build(settings: Settings) -> MockState:
    """Load the specs and fixtures once; raises FixturesError or ConfigError for bad input."""
    spec = load_spec(spec_path())
    fixtures = fixtures_module.load(settings.fixtures_path, spec)
    clock = Clock(settings.clock)
    return MockState(
        settings=settings,
        spec=spec,
        control_spec=load_spec(control_spec_path()),
        fixtures=fixtures,
        store=Store(fixtures),
        clock=clock,
        minter=Minter(settings.secret, settings.token_ttl, clock),
        journal=Journal(settings.journal_size),
        faults=Faults(),
    )


def init_app(app: Flask, state: MockState) -> None:
    app.extensions[_KEY] = state


def current() -> MockState:
    return current_app.extensions[_KEY]
