"""What `envoy-events mock` does: start the server and tell a person how to use it."""

from __future__ import annotations

import errno
import socket
from dataclasses import replace
from pathlib import Path

import click

from envoy_events_kit.instants import InstantError, format_instant
from envoy_events_kit.stop_request import StopRequest

from ..api.tokens import parse_clock_instant
from ..config import ConfigError, Settings
from ..control.dashboard import UI_PREFIX
from ..events.realtime.install import RealtimeUnavailable
from ..events.realtime.process import RealtimeError
from ..events.scenarios import ScenarioError
from ..events.webhooks.delivery import parse_schedule
from ..state.fixtures import FixturesError
from . import security
from .server import MockServer


def banner(server: MockServer) -> str:
    """The base URL, the fixture tokens and a ready-to-paste curl line."""
    state = server.state
    principals = sorted(state.fixtures.principals.values(), key=lambda p: p.name or "")
    lines = [f"envoy-events mock serving {server.url} on {server.server}  (clock: "
             f"{state.clock.describe()['now']} {state.clock.mode}; fixtures: "
             f"{state.fixtures.path})", "",
             f"Dashboard: {server.url}{UI_PREFIX}  (open it in a browser: principals, live "
             "events, publish, deliveries, journal)", "",
             f"{'name':<18} {'org':<31} {'user':<31} token / scopes"]
    for p in principals:
        expired = f"  EXPIRED {format_instant(p.expires_at)}" if p.expires_at else ""
        lines.append(f"{p.name or '-':<18} {p.org_id:<31} {p.user_id:<31} {p.token}{expired}")
        lines.append(f"{'':<82} {' '.join(sorted(p.scopes)) or '(no scopes)'}")
    sample = next((p for p in principals if not p.expires_at and
                   state.store.is_provisioned(p.org_id)), principals[0] if principals else None)
    if sample:
        lines += ["", "Try:",
                  f"  curl -s -H 'Authorization: Bearer {sample.token}' "
                  f"{server.url}/events/connection_token"]
    if state.realtime is not None:
        lines += ["", f"Realtime (Centrifugo {state.realtime.describe()['centrifugo_version']}): "
                      f"{state.realtime.websocket_url}",
                  "  connect with a connection token; publish with "
                  f"POST {server.url}/__mock__/events"]
    if state.state_file is not None:
        lines += ["", f"State: {state.state_file.path} (--state-file) wins over the fixtures "
                      "for organisations, webhook endpoints and created principals; "
                      "POST /__mock__/reset goes back to the fixtures."]
        lines += [f"  {note}" for note in state.state_file.notes]
    lines += ["", "Control API: " + server.url + "/__mock__/state   Ctrl-C stops."]
    return "\n".join(lines + _exposure(server))


def _exposure(server: MockServer) -> list[str]:
    """What the network can reach, and the control token if this run made it (the one
    place it is ever printed; a token given by the user never is)."""
    lines = []
    if security.is_loopback_bind(server.host) is False:
        lines += ["", f"WARNING: listening on {server.host}: other machines reach the events "
                      "API and the control API (/__mock__/: snapshot with webhook secrets, "
                      "reset, principals). See docs/security.md."]
    token = server.state.settings.control_token
    if server.generated_control_token and token:
        lines += [f"Control token (generated for this run): {token}",
                  "  every /__mock__/ call needs -H 'Authorization: Bearer <that token>', e.g.",
                  f"  curl -s -H 'Authorization: Bearer {token}' {server.url}/__mock__/state"]
    elif token:
        lines += ["Every /__mock__/ call needs 'Authorization: Bearer <your --control-token>'."]
    return lines


def _say_dropped(count: int) -> None:
    """One line for the webhook deliveries the stop left unsent: a restart does not resend
    them (`--state-file` keeps organisations, principals and endpoints, not deliveries)."""
    if count:
        noun = "delivery" if count == 1 else "deliveries"
        click.echo(f"{count} pending webhook {noun} dropped (not sent; a restart does not "
                   "resend them, --state-file or not).")


def _listen_problem(exc: OSError | ValueError) -> str:
    """A person's reading of why the port could not be bound."""
    if isinstance(exc, socket.gaierror) or not isinstance(exc, OSError):
        return "unknown host (try --host 127.0.0.1)"
    if exc.errno == errno.EADDRINUSE:
        return "the port is in use (is another mock running? try --port 0 for any free port)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges; try --port 8080)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this machine has no such address (try --host 127.0.0.1)"
    return exc.strerror or str(exc)


def run_mock(*, host: str, port: int, fixtures_path: Path | None, secret: str | None,
             clock: str, token_ttl: int, threads: int | None, strict: bool,
             state_file: Path | None = None, realtime: bool = False,
             centrifugo: Path | None = None, realtime_port: int = 0,
             webhook_retry_schedule: str = "0,1,5", allowed_webhook_hosts: tuple[str, ...] = (),
             webhook_timeout: float = 5.0, control_token: str | None = None,
             allowed_hosts: tuple[str, ...] = (), cors_origins: tuple[str, ...] = (),
             scenario: str | None = None, scenario_loop: bool = False,
             server_name: str = "granian", stop: StopRequest | None = None) -> int:
    """Run in the foreground; one-line errors instead of tracebacks. Returns the exit status.
    `stop`: SIGTERM/Ctrl-C caught since the command began (caught here otherwise)."""
    stop = (stop or StopRequest()).install()
    try:
        schedule = parse_schedule(webhook_retry_schedule)
    except ValueError:
        click.echo(f"error: --webhook-retry-schedule: {webhook_retry_schedule!r} is not "
                   "comma-separated seconds >= 0 (e.g. 0,1,5) or 'svix'", err=True)
        return 2
    if clock != "real":
        try:
            parse_clock_instant(clock)
        except InstantError as exc:
            click.echo(f"error: --clock: neither 'real' nor an instant the clock can take: "
                       f"{exc}", err=True)
            return 2
    try:
        settings = replace(Settings(), clock=clock, token_ttl=token_ttl, strict=strict,
                           state_file=state_file, realtime=realtime, centrifugo=centrifugo,
                           realtime_port=realtime_port, webhook_retry_schedule=schedule,
                           allowed_webhook_hosts=tuple(allowed_webhook_hosts),
                           webhook_timeout_s=webhook_timeout, scenario=scenario,
                           scenario_loop=scenario_loop, control_token=control_token,
                           allowed_hosts=tuple(allowed_hosts), cors_origins=tuple(cors_origins))
        if fixtures_path is not None:
            settings = replace(settings, fixtures_path=fixtures_path)
        if secret is not None:
            settings = replace(settings, secret=secret)
        server = MockServer(settings, host=host, port=port, threads=threads,
                            server=server_name)
        server.bind()
    except (ConfigError, FixturesError, ScenarioError) as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except (OSError, ValueError) as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {_listen_problem(exc)}", err=True)
        return 2
    try:
        server.serve_forever(on_ready=lambda s: click.echo(banner(s), nl=True), stop=stop)
    except (RealtimeUnavailable, RealtimeError) as exc:
        click.echo(f"error: --realtime: {exc}", err=True)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C while requests in flight were finishing
        _say_dropped(server.dropped_deliveries + server.state.close())
        click.echo("envoy-events mock stopped; requests still in flight were cut short.")
        return 130
    _say_dropped(server.dropped_deliveries)
    if server.failure:
        click.echo(f"error: {server.failure}; the mock stopped too.", err=True)
        return 1
    click.echo("envoy-events mock stopped.")
    return 0
