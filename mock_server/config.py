"""One settings object for the mock, so the CLI, the plugin and tests configure it alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from envoy_events_kit import default_fixtures_path

#: Development-only signing secret (>= 32 bytes, as PyJWT asks for HS256). Never use it
#: for anything real: it is printed in the README.
DEV_SECRET = "envoy-events-kit-development-secret-not-for-production"

MIN_SECRET_BYTES = 32


class ConfigError(ValueError):
    """A setting the mock cannot start with; the message is meant for a person."""


@dataclass(frozen=True)
class Settings:
    """Everything that changes how the mock behaves."""

    fixtures_path: Path = field(default_factory=default_fixtures_path)
    secret: str = DEV_SECRET
    clock: str = "real"
    token_ttl: int = 3600
    strict: bool = False
    state_file: Path | None = None
    max_body_bytes: int = 64 * 1024
    #: Caps of what the control API lists (oldest dropped first, and counted): requests in
    #: the journal; published events, by count and by bytes of their JSON.
    journal_size: int = 10_000
    events_log_size: int = 10_000
    events_log_bytes: int = 16 * 1024 * 1024
    #: Feeds every generated id and secret (events, webhook secrets), so that a run with a
    #: frozen clock produces the same ones every time.
    seed: str = "envoy-events-kit"
    #: Run a real Centrifugo next to the mock (`--realtime`), found as `realtime.find_binary`
    #: says unless `centrifugo` names the binary; port 0 picks a free one.
    realtime: bool = False
    centrifugo: Path | None = None
    realtime_port: int = 0
    #: Seconds before each webhook delivery attempt (`--webhook-retry-schedule`), the hosts
    #: deliveries may go to besides loopback ones, and the deadline of a whole attempt
    #: (connect, send, headers and body).
    webhook_retry_schedule: tuple[float, ...] = (0.0, 1.0, 5.0)
    allowed_webhook_hosts: tuple[str, ...] = ()
    webhook_timeout_s: float = 5.0
    #: Bounds of the delivery log: deliveries, and bytes of their bodies (the oldest
    #: completed deliveries make room; pending ones are never dropped).
    webhook_log_size: int = 10_000
    webhook_log_bytes: int = 64 * 1024 * 1024
    #: A scenario to play once the mock serves (a file, or a bundled name), and whether to
    #: play it again and again.
    scenario: str | None = None
    scenario_loop: bool = False
    #: Who may reach the mock besides its own machine (docs/security.md): `Host` names
    #: accepted besides loopback ones and the bound host (`--allow-host`), browser origins
    #: trusted besides loopback pages (`--cors-origin`), and the bearer token every
    #: `/__mock__/` call must carry when set (`--control-token`).
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    control_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes")
        if self.control_token is not None and not self.control_token.strip():
            raise ConfigError("the control token must not be empty")
        if self.token_ttl <= 0:
            raise ConfigError("the token TTL must be a positive number of seconds")
        if self.webhook_log_size < 1 or self.webhook_log_bytes < 1:
            raise ConfigError("the delivery log's bounds (webhook_log_size, webhook_log_bytes) "
                              "must be positive")
        object.__setattr__(self, "fixtures_path", Path(self.fixtures_path))
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        if self.state_file is not None:
            object.__setattr__(self, "state_file", Path(self.state_file))
        if self.centrifugo is not None:
            object.__setattr__(self, "centrifugo", Path(self.centrifugo))
