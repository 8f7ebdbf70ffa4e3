"""What `envoy-events proxy` does: serve until stopped, then print and write the report."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from .app import REPORT_PATH, ProxyApp
from .server import ProxyServer
from .validate import Validator


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def banner(server: ProxyServer) -> str:
    app = server.app
    lines = [f"envoy-events proxy serving {server.url} -> {app.upstream} (on {server.server})",
             "  every request and answer is judged against the spec; answers that break it",
             f"  carry x-contract-violations{' and become 502s (--errors)' if app.errors else ''}",
             f"  report so far: {server.url}{REPORT_PATH}   Ctrl-C stops and prints it."]
    if app.mirror is not None:
        lines.insert(3, "  --compare-mock: each caller's requests are also put to a mock that "
                        "mirrors it (x-contract-differences)")
    if not _is_loopback(server.host):
        lines.append(f"  WARNING: bound to {server.host}: other machines can send requests "
                     "through this proxy and read its report.")
    return "\n".join(lines)


def run_proxy(*, upstream: str, host: str, port: int, errors: bool, report_dir: Path | None,
              jwt_secret: str | None, timeout: float, server_name: str,
              threads: int | None, allowed_hosts: tuple[str, ...], quiet: bool,
              compare_mock: bool = False) -> int:
    """Run in the foreground; one-line errors instead of tracebacks. Returns the exit status
    (0, or 1 when a violation was seen, so a CI step around an e2e suite can fail on it)."""
    try:
        app = ProxyApp(upstream, validator=Validator(secret=jwt_secret), errors=errors,
                       timeout=timeout, allowed_hosts=(*allowed_hosts, host),
                       compare_mock=compare_mock,
                       log=None if quiet else lambda line: click.echo(line, err=True))
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    server = ProxyServer(app, host=host, port=port, server=server_name,  # type: ignore[arg-type]
                         threads=threads)
    try:
        server.bind()
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        return 2
    try:
        server.serve_forever(on_ready=lambda s: click.echo(banner(s)))
    except KeyboardInterrupt:  # a second Ctrl-C while requests in flight were finishing
        click.echo("envoy-events proxy stopped; requests in flight were cut short.")
    click.echo(app.report.summary())
    if report_dir is not None:
        for path in app.report.write(report_dir):
            click.echo(f"wrote {path}")
    return 1 if app.report.violations.total else 0
