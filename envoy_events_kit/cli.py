"""The `envoy-events` command: run the mock, print the spec's path, run the contract suite."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from envoy_events_kit import spec_path


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="envoy-events-kit")
def main() -> None:
    """Make the Envoy Event Streaming API testable without the real service.

    \b
    Start here:
      envoy-events mock                 serve the mock on http://127.0.0.1:8080 and print
                                        its bearer tokens (Ctrl-C stops)
      envoy-events spec                 path of the bundled OpenAPI 3.1 contract
      envoy-events contract             check a deployment (or the mock) against it
      envoy-events parity               ask a deployment and a mock that mirrors its
                                        caller the same questions; report differences
      envoy-events proxy                a validating proxy between a client and the API

    In a pytest suite, installing the kit is enough: the fixtures events_mock,
    events_base_url and events_token are there (see `pytest --help`, group envoy-events).
    Run `envoy-events COMMAND --help` for each command's options.
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Off loopback (e.g. 0.0.0.0) the network reaches the "
                   "control API: a control token is then required (generated and printed "
                   "unless --control-token gives one) and --secret is mandatory.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free one; the banner shows which).")
@click.option("--fixtures", "fixtures_path", type=click.Path(path_type=Path), metavar="FILE",
              help="Fixtures file (organisations, users, namespaces, bearer tokens). "
                   "Default: the bundled fixtures/default.yaml.")
@click.option("--secret", envvar="ENVOY_EVENTS_SECRET", show_envvar=True,
              help="HS256 signing secret, at least 32 bytes. Default: the development secret.")
@click.option("--clock", default="real", show_default=True, metavar="real|INSTANT",
              help="'real', or an ISO-8601 instant to freeze the clock at "
                   "(e.g. 2026-01-01T00:00:00Z: byte-identical tokens on every run).")
@click.option("--token-ttl", default=3600, show_default=True, type=click.IntRange(min=1),
              help="Lifetime of issued JWTs, in seconds.")
@click.option("--threads", type=click.IntRange(1, 256),
              help="Python threads running the app (default: 1 on granian, 8 on waitress). "
                   "A request held by an injected latency holds one; on granian more "
                   "threads let other requests pass meanwhile but lengthen the tail under "
                   "heavy load. A client slow to send its body holds none (both servers "
                   "read bodies first; granian answers 408 after 2 s).")
@click.option("--server", "server_name", type=click.Choice(["granian", "waitress"]),
              default="granian", show_default=True,
              help="HTTP server: granian (Rust, fastest) or waitress (pure Python; answers "
                   "even malformed HTTP with a JSON error body).")
@click.option("--strict/--no-strict", default=False, show_default=True,
              help="Check every response against the spec before sending it.")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep provisioned organisations, created principals and webhook endpoints "
                   "in this JSON file across restarts (written atomically on every change).")
@click.option("--realtime", is_flag=True,
              help="Also run a real Centrifugo (the realtime server the tokens are for) on a "
                   "free loopback port, fed by POST /__mock__/events; the banner shows its "
                   "WebSocket URL. Needs the binary: `envoy-events realtime install`.")
@click.option("--centrifugo", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              envvar="ENVOY_EVENTS_CENTRIFUGO", show_envvar=True,
              help="Centrifugo binary for --realtime (default: `centrifugo` on PATH if it is "
                   "the pinned version, else the kit's cache).")
@click.option("--realtime-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the realtime server with --realtime (0: any free one).")
@click.option("--webhook-retry-schedule", default="0,1,5", show_default=True,
              metavar="SECONDS,...|svix",
              help="Seconds before each webhook delivery attempt, on the mock's clock (a "
                   "frozen clock holds retries until it is moved); `svix` for Svix's delays "
                   "(0,5,300,1800,7200,18000,36000,36000).")
@click.option("--allow-webhook-host", "allowed_webhook_hosts", multiple=True, metavar="HOST",
              help="Also deliver webhooks to HOST (repeatable); by default only to loopback.")
@click.option("--webhook-timeout", default=5.0, show_default=True,
              type=click.FloatRange(0.1, 60),
              help="Seconds a webhook attempt may take in all (connect, headers and body).")
@click.option("--control-token", metavar="TOKEN", envvar="ENVOY_EVENTS_CONTROL_TOKEN",
              show_envvar=True,
              help="Require 'Authorization: Bearer TOKEN' on every /__mock__/ call (401 "
                   "otherwise). Never printed.")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host is NAME (repeatable); by default only "
                   "loopback names and addresses and the --host name (others: 421).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Also trust the browser page ORIGIN, e.g. http://app.test:3000 "
                   "(repeatable): CORS, and control calls that change state; by default "
                   "only pages on loopback hosts.")
@click.option("--scenario", metavar="FILE|NAME",
              help="Play a scenario of timed events once the mock serves: a YAML file, or a "
                   "bundled name (shipment-journey).")
@click.option("--scenario-loop", is_flag=True, help="Play the --scenario again and again.")
def mock(host: str, port: int, fixtures_path: Path | None, secret: str | None, clock: str,
         token_ttl: int, threads: int | None, strict: bool, state_file: Path | None,
         realtime: bool, centrifugo: Path | None, realtime_port: int,
         webhook_retry_schedule: str, allowed_webhook_hosts: tuple[str, ...],
         webhook_timeout: float, control_token: str | None,
         allowed_hosts: tuple[str, ...], cors_origins: tuple[str, ...], scenario: str | None,
         scenario_loop: bool, server_name: str) -> None:
    """Serve the stateful mock (on Granian by default) until Ctrl-C or SIGTERM.

    It answers the four /events/ operations as the contract says (401, 400, 403, 409,
    real HS256 JWTs) and prints the fixture bearer tokens to use, e.g. admin:

    \b
      curl -H 'Authorization: Bearer dev-admin-acme-5d1f0c2b7a9e4c31' \\
        http://127.0.0.1:8080/events/connection_token

    Browser apps on any localhost port may call it (CORS). Its control API under
    /__mock__/ resets it, provisions organisations, creates principals, moves the clock,
    injects faults and shows the request journal (`envoy-events spec --control`); its
    dashboard, /__mock__/ui, does all that in a browser (the banner prints the URL). It takes
    JSON bodies only, and changes only from loopback pages (see docs/security.md).
    """
    from envoy_events_kit.stop_request import StopRequest

    stop = StopRequest().install()  # before the heavy imports: a stop during start-up is clean
    from envoy_events_kit.mock_server.serving.cli_support import run_mock

    sys.exit(run_mock(stop=stop, host=host, port=port, fixtures_path=fixtures_path, secret=secret,
                      clock=clock, token_ttl=token_ttl, threads=threads, strict=strict,
                      state_file=state_file, realtime=realtime, centrifugo=centrifugo,
                      realtime_port=realtime_port,
                      webhook_retry_schedule=webhook_retry_schedule,
                      allowed_webhook_hosts=allowed_webhook_hosts,
                      webhook_timeout=webhook_timeout, control_token=control_token,
                      allowed_hosts=allowed_hosts, cors_origins=cors_origins,
                      scenario=scenario, scenario_loop=scenario_loop,
                      server_name=server_name))


@main.group(short_help="Install or locate the realtime server (Centrifugo).")
def realtime() -> None:
    """The realtime stand-in is a real Centrifugo, pinned to one version and built from
    source with Go into the kit's cache directory."""


@realtime.command("install", short_help="Build the pinned Centrifugo; fetch the browser client.")
@click.option("--force", is_flag=True, help="Build and fetch again even if they are installed.")
def realtime_install(force: bool) -> None:
    """Build the pinned Centrifugo into the user's cache directory (needs Go; minutes the
    first time, with a progress line every 10 s; seconds once Go's caches are warm), then
    fetch the pinned npm `centrifuge` browser client beside it with npm (checked against its
    integrity hash) for the dashboard at /__mock__/ui. Without npm the dashboard shows the
    mock's own event list instead: a warning, not a failure."""
    from envoy_events_kit.mock_server.events.realtime.browser_client import (
        ClientUnavailable,
        install_browser_client,
    )
    from envoy_events_kit.mock_server.events.realtime.install import RealtimeUnavailable, install

    try:
        install(force=force, echo=click.echo)
    except RealtimeUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    try:
        install_browser_client(force=force, echo=click.echo)
    except ClientUnavailable as exc:
        click.echo(f"warning: the dashboard's centrifuge browser client: {exc}", err=True)


@realtime.command("path", short_help="Print the Centrifugo binary --realtime would run.")
def realtime_path() -> None:
    """Print the binary `envoy-events mock --realtime` would run (exit 1 if none)."""
    from envoy_events_kit.mock_server.events.realtime.install import (
        RealtimeUnavailable,
        find_binary,
    )

    try:
        click.echo(str(find_binary()))
    except RealtimeUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@main.command(short_help="Print the path of the bundled OpenAPI spec.")
@click.option("--control", is_flag=True, help="Print the mock control API's spec instead.")
def spec(control: bool) -> None:
    """Print the path of the bundled OpenAPI 3.1 spec (inside the installed package), so
    stock tools read the very contract the mock and the contract suite use:

    \b
      schemathesis run "$(envoy-events spec)" --url http://127.0.0.1:8080 \\
        -H "Authorization: Bearer dev-admin-acme-5d1f0c2b7a9e4c31"
      prism mock "$(envoy-events spec)"
    """
    from envoy_events_kit import control_spec_path

    click.echo(str(control_spec_path() if control else spec_path()))


@main.command(short_help="Check a deployment (or the mock) against the contract.")
@click.option("--base-url", envvar="ENVOY_EVENTS_BASE_URL", show_envvar=True,
              help="Deployment to test. Default: the mock, started in-process.")
@click.option("--token", envvar="ENVOY_EVENTS_TOKEN", show_envvar=True,
              help="Bearer token for --base-url (never printed).")
@click.option("--admin-token", envvar="ENVOY_EVENTS_ADMIN_TOKEN", show_envvar=True,
              help="Bearer token of a principal with the provisioning scope.")
@click.option("--expired-token", envvar="ENVOY_EVENTS_EXPIRED_TOKEN", show_envvar=True,
              help="An expired bearer token the target must refuse with 401.")
@click.option("--jwt-secret", envvar="ENVOY_EVENTS_JWT_SECRET", show_envvar=True,
              help="The target's HS256 signing secret, to verify token signatures.")
@click.option("--control-token", envvar="ENVOY_EVENTS_CONTROL_TOKEN", show_envvar=True,
              help="The control token of a mock at --base-url started with --control-token "
                   "(its mock-only tests call /__mock__/; never printed).")
@click.option("--realtime-url", envvar="ENVOY_EVENTS_REALTIME_URL", show_envvar=True,
              metavar="WS_URL",
              help="The target's realtime server (ws://…/connection/websocket): adds the "
                   "realtime rules, checked with a real centrifuge-python client.")
@click.option("--allow-destructive", is_flag=True,
              help="Permit provision/deprovision (deprovision deletes webhook endpoints).")
@click.option("--max-examples", type=int, help="Hypothesis examples per generated test "
              "(default 25).")
@click.option("--rate-limit", help="Requests per second against a deployment (default 10/s).")
@click.option("--timeout", type=float, help="Per-request timeout in seconds (default 10).")
@click.option("--require-realtime", is_flag=True, envvar="ENVOY_EVENTS_REQUIRE_REALTIME",
              show_envvar=True,
              help="A realtime rule not checked (no Centrifugo binary, no URL, connect "
                   "failed) makes the run exit 3. Implied by --realtime-url.")
@click.option("--junit-xml", type=click.Path(dir_okay=False), help="Write a JUnit XML report "
              "(with the x-assumed drift summary as properties).")
@click.option("--report", type=click.Path(file_okay=False), metavar="DIR",
              envvar="ENVOY_EVENTS_REPORT", show_envvar=True,
              help="Write DIR/junit.xml and DIR/summary.md (verdict, drift table, rules not "
                   "checked and why, documented statuses observed); the Markdown is also "
                   "appended to $GITHUB_STEP_SUMMARY when that is set.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def contract(base_url: str | None, control_token: str | None, realtime_url: str | None,
             token: str | None,
             admin_token: str | None,
             expired_token: str | None, jwt_secret: str | None, allow_destructive: bool,
             max_examples: int | None, rate_limit: str | None, timeout: float | None,
             require_realtime: bool, junit_xml: str | None, report: str | None,
             pytest_args: tuple[str, ...]) -> None:
    """Run the contract suite against BASE_URL (or the built-in mock, which the first and
    closing lines then say). The closing line is the verdict: what held, what broke, and
    every rule not checked with the reason. Exit status: 0 kept, 1 broken (a rule failed),
    2 usage (an unknown option or ENVOY_EVENTS_* variable), 3 could not check (target or
    realtime server unreachable, token refused, or a required realtime rule not checked).

    Arguments after `--` go to pytest, e.g. `envoy-events contract -- -k realtime -x`."""
    import importlib.util

    from envoy_events_kit import environment
    from envoy_events_kit.contract_tests.runner import refused_pytest_args, run

    for problem in (environment.problem(), refused_pytest_args(pytest_args)):
        if problem:
            click.echo(f"envoy-events contract: {problem}", err=True)
            sys.exit(2)
    missing = [m for m in ("schemathesis", "hypothesis") if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(
            f"the contract suite needs {' and '.join(missing)}: install the kit with its "
            "contract extra, e.g. pip install 'envoy-events-kit[contract] @ <path or URL>'")
    if base_url and not token:
        raise click.UsageError("--base-url needs --token (or ENVOY_EVENTS_TOKEN)")
    sys.exit(run(secrets={"token": token, "admin_token": admin_token,
                          "expired_token": expired_token, "jwt_secret": jwt_secret,
                          "control_token": control_token},
                 base_url=base_url, realtime_url=realtime_url,
                 allow_destructive=allow_destructive,
                 max_examples=max_examples, rate_limit=rate_limit, timeout=timeout,
                 junit_xml=junit_xml, report=report, require_realtime=require_realtime,
                 extra=pytest_args))


@main.command(short_help="A validating proxy in front of a deployment (or the mock).")
@click.option("--upstream", required=True, envvar="ENVOY_EVENTS_UPSTREAM", show_envvar=True,
              metavar="URL", help="Where requests go, e.g. https://api.staging.example.com.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free one; the banner shows which).")
@click.option("--errors", is_flag=True,
              help="Turn an answer that breaks the contract into a 502 naming the rule.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="On stop, write junit.xml and summary.md here, in the "
                                  "contract suite's formats (summary.md is also appended to "
                                  "$GITHUB_STEP_SUMMARY when set), and report.json.")
@click.option("--jwt-secret", envvar="ENVOY_EVENTS_JWT_SECRET", show_envvar=True,
              help="The upstream's HS256 secret, to verify token signatures (else unchecked).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds the upstream has to answer each request.")
@click.option("--server", "server_name", type=click.Choice(["waitress", "granian"]),
              default="waitress", show_default=True,
              help="HTTP server: waitress streams large answers; granian sends them whole.")
@click.option("--threads", type=click.IntRange(1, 256), help="Requests handled at once "
              "(default 8).")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="HOST",
              help="Also answer requests whose Host is HOST (default: loopback names and "
                   "addresses only, against DNS rebinding).")
@click.option("--compare-mock", is_flag=True,
              help="Also ask an in-process mock that mirrors each caller (learned from its "
                   "first connection token) and report how its answers differ.")
@click.option("--quiet", is_flag=True, help="Do not print each violation as it happens.")
def proxy(upstream: str, host: str, port: int, errors: bool, report_dir: Path | None,
          jwt_secret: str | None, timeout: float, server_name: str, threads: int | None,
          allowed_hosts: tuple[str, ...], compare_mock: bool, quiet: bool) -> None:
    """Forward everything to UPSTREAM and judge each request and answer against the spec.

    Point a frontend, an e2e suite or curl at the proxy instead of the API. Answers that
    break the contract carry `x-contract-violations: <count>; <rules>`; requests outside the
    spec carry `x-contract-request-problems`. GET /__proxy__/report shows the findings so
    far by rule (tokens redacted); Ctrl-C prints them. Exits 1 if a violation was seen.
    """
    from envoy_events_kit.proxy.cli import run_proxy

    sys.exit(run_proxy(upstream=upstream, host=host, port=port, errors=errors,
                       report_dir=report_dir, jwt_secret=jwt_secret, timeout=timeout,
                       server_name=server_name, threads=threads,
                       allowed_hosts=allowed_hosts, quiet=quiet, compare_mock=compare_mock))


@main.command(short_help="Ask a deployment and a mock that mirrors it the same questions.")
@click.option("--base-url", required=True, envvar="ENVOY_EVENTS_BASE_URL", show_envvar=True,
              help="The deployment to compare with the mock.")
@click.option("--token", required=True, envvar="ENVOY_EVENTS_TOKEN", show_envvar=True,
              help="Bearer token of the caller to mirror (never printed).")
@click.option("--admin-token", envvar="ENVOY_EVENTS_ADMIN_TOKEN", show_envvar=True,
              help="Bearer token of a principal with the provisioning scope.")
@click.option("--expired-token", envvar="ENVOY_EVENTS_EXPIRED_TOKEN", show_envvar=True,
              help="An expired bearer token (adds the expired-token request).")
@click.option("--allow-destructive", is_flag=True,
              help="Permit provision/deprovision on the target (deprovision deletes its "
                   "webhook endpoints); needs --admin-token. The organisation ends as found.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              metavar="DIR", help="Write junit.xml and summary.md here, in the contract "
                                  "suite's formats (summary.md is also appended to "
                                  "$GITHUB_STEP_SUMMARY when set), and report.json.")
@click.option("--write-fixtures", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also write the mirrored fixtures (for `envoy-events mock "
                                   "--fixtures FILE`): the target's ids, generated tokens.")
@click.option("--realtime-url", envvar="ENVOY_EVENTS_REALTIME_URL", show_envvar=True,
              metavar="WS", help="The target's realtime server (ws://…/connection/websocket): "
                                 "also compare connecting and subscribing there, with the "
                                 "target's tokens, against the mock's own Centrifugo (needs "
                                 "`envoy-events realtime install`). A side that cannot be "
                                 "asked: exit 3.")
@click.option("--examples", default=10, show_default=True, type=click.IntRange(0, 500),
              help="Generated requests, derandomized (needs the contract extra): channels per "
                   "kind from the contract suite's strategies (own, another user's, another "
                   "org's, an ungranted namespace, malformed), and the suite's Schemathesis "
                   "cases per operation and mode (positive, negative).")
@click.option("--walks", default=10, show_default=True, type=click.IntRange(0, 200),
              help="With --allow-destructive: the contract suite's stateful walks (its "
                   "scripted one, then this many of Hypothesis'), every step to both sides.")
@click.option("--rate-limit", help="Requests per second against the target (default 10/s).")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Per-request timeout in seconds.")
def parity(base_url: str, token: str, admin_token: str | None, expired_token: str | None,
           allow_destructive: bool, report_dir: Path | None, write_fixtures: Path | None,
           realtime_url: str | None, examples: int, walks: int, rate_limit: str | None,
           timeout: float) -> None:
    """Learn who TOKEN is on BASE_URL, start the mock with fixtures that mirror it, send
    the same requests to both and report every difference by rule (tokens redacted).

    Exits 0 when the two agree, 1 when they differ, 3 when a side could not be checked.
    Read-only unless --allow-destructive."""
    from envoy_events_kit.parity import ParityOptions, run
    from envoy_events_kit.parity.report import summary, write_reports

    if allow_destructive and not admin_token:
        raise click.UsageError("--allow-destructive needs --admin-token")
    options = ParityOptions(base_url=base_url, token=token, admin_token=admin_token,
                            expired_token=expired_token, allow_destructive=allow_destructive,
                            rate_limit=rate_limit, timeout=timeout, report_dir=report_dir,
                            write_fixtures=write_fixtures, examples=examples, walks=walks,
                            realtime_url=realtime_url)
    result = run(options, echo=click.echo)
    click.echo(summary(result, options))
    if report_dir is not None:
        for path in write_reports(result, options, report_dir):
            click.echo(f"wrote {path}")
    sys.exit(result.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
