"""Everything one mock instance holds, attached to its Flask app (as Flask's tutorial `db.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from envoy_events_kit import control_spec_path, spec_path

from ..api.tokens import Clock, Minter
from ..config import Settings
from ..control.journal import Faults, Journal
from ..events.bus import EventBus
from ..events.log import EventLog
from ..events.scenarios import ScenarioPlayer
from ..events.scenarios import load as load_scenario
from ..events.webhooks.delivery import WebhookDispatcher
from ..spec import Spec
from . import fixtures as fixtures_module
from .store import Store

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
    events: EventBus
    webhooks: WebhookDispatcher
    scenarios: ScenarioPlayer
    #: The running Centrifugo stand-in (`--realtime`), else None.
    realtime: Any = None
    #: The `--state-file` in use (`persistence.StateFile`), else None.
    state_file: Any = None

    def reset(self) -> None:
        """Back to the fixtures: state, clock, journal, faults and published events."""
        self.store.reset()
        self.clock.set(self.settings.clock)
        self.journal.clear()
        self.faults.clear()
        self.scenarios.stop_all()
        self.events.reset()

    def start_realtime(self, host: str = "127.0.0.1",
                       on_exit: Callable[[str], None] | None = None) -> None:
        """Start Centrifugo and route events to it (RealtimeUnavailable, RealtimeError)."""
        if not self.settings.realtime or self.realtime is not None:
            return
        from ..events.realtime.standin import RealtimeStandIn, check_clock

        check_clock(self.clock, self.settings.token_ttl)
        standin = RealtimeStandIn(
            secret=self.settings.secret, namespaces=list(self.fixtures.namespaces),
            binary=self.settings.centrifugo, host=host, port=self.settings.realtime_port,
            on_exit=on_exit, origins=self.settings.cors_origins)
        standin.start()
        self.realtime = standin
        self.events.add_sink(standin.publisher)

    def close(self) -> int:
        """Stop what runs beside the app: webhook workers (recording what they could not
        send) and the realtime stand-in. Returns how many deliveries were still pending."""
        self.scenarios.stop_all()
        dropped = self.webhooks.stop()
        dropped += self.webhooks.pending_count()  # still in flight past the workers' grace
        self.stop_realtime()
        return dropped

    def start_scenario(self) -> None:
        """Play the scenario the settings name, if any (it was checked at build)."""
        if self.settings.scenario and not self.scenarios.playing:
            name = next(iter(self.scenarios.known))
            self.scenarios.play(name, loop=self.settings.scenario_loop)

    def stop_realtime(self) -> None:
        standin, self.realtime = self.realtime, None
        if standin is not None:
            self.events.remove_sink(standin.publisher)
            standin.stop()


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
    store = Store(fixtures, settings.seed)
    events = EventBus(spec, store, clock, settings.seed,
                      EventLog(settings.events_log_size, settings.events_log_bytes))
    webhooks = WebhookDispatcher(store, settings.seed, settings.webhook_retry_schedule,
                                 settings.allowed_webhook_hosts, settings.webhook_timeout_s,
                                 clock, settings.webhook_log_size, settings.webhook_log_bytes)
    events.add_sink(webhooks)
    store.on_organisations_off = events.organisations_off
    store.on_endpoints_off = webhooks.endpoints_off
    scenarios = ScenarioPlayer(events)
    if settings.scenario:
        scenarios.add(load_scenario(settings.scenario, events))
    return MockState(
        settings=settings,
        spec=spec,
        control_spec=load_spec(control_spec_path()),
        fixtures=fixtures,
        store=store,
        clock=clock,
        minter=Minter(settings.secret, settings.token_ttl, clock),
        journal=Journal(settings.journal_size),
        faults=Faults(),
        events=events,
        webhooks=webhooks,
        scenarios=scenarios,
    )


def init_app(app: Flask, state: MockState) -> None:
    app.extensions[_KEY] = state


def current() -> MockState:
    return current_app.extensions[_KEY]
