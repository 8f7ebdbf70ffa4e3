"""What the validating proxy adds per request on loopback, side by side with direct calls.

The mock (`envoy-events mock`, Granian) and the proxy (`envoy-events proxy`) run as their
own processes, as a developer runs them; this process sends the same requests to both over
keep-alive connections, one at a time, alternating direct and proxied calls so that both
see the same machine. The target: the proxy adds at most 2 ms at the median.

Run: `.venv/bin/python benchmarks/proxy_overhead.py [--rounds 2000] [--server both]`
(waitress, the default and streaming; granian, which hands answers over whole).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from envoy_events_kit.net import free_port

ENVOY = str(Path(sys.executable).with_name("envoy-events"))
ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"
CHANNEL = "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa#usr_26ZZVRrmnPTXTcZIuzXLZdnigLW"
FOREIGN = "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa#usr_27owyeeNEYU0sTDZWYnFg5PCMDZ"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
#: (name, path, body, headers): the calls a frontend makes, and a refusal.
CALLS = [
    ("connection_token", "/events/connection_token", None, AUTH),
    ("subscription body", "/events/subscription_token", json.dumps({"channel": CHANNEL}),
     {**AUTH, "Content-Type": "application/json"}),
    ("subscription ?channel=", "/events/subscription_token?channel="
     + CHANNEL.replace("#", "%23"), None, AUTH),
    ("subscription 403", "/events/subscription_token?channel=" + FOREIGN.replace("#", "%23"),
     None, AUTH),
]


def _wait_for(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args[:2]} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/__proxy__/report")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered on port {port} within {timeout} s")


def _call(connection: http.client.HTTPConnection, path: str, body: str | None,
          headers: dict[str, str]) -> tuple[float, int, http.client.HTTPResponse]:
    start = time.perf_counter()
    connection.request("GET", path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return (time.perf_counter() - start) * 1000, response.status, response


def _row(name: str, direct: list[float], proxied: list[float]) -> str:
    d50, p50 = statistics.median(direct), statistics.median(proxied)
    d99 = statistics.quantiles(direct, n=100)[98]
    p99 = statistics.quantiles(proxied, n=100)[98]
    return (f"{name:<24} {d50:>8.3f} {p50:>8.3f} {p50 - d50:>+9.3f} {d99:>8.3f} {p99:>8.3f}")


def _measure(mock_port: int, server: str, rounds: int) -> float:
    """One proxy process on `server`; prints its table, returns the p50 overhead (ms)."""
    proxy_port = free_port()
    proxy = subprocess.Popen([ENVOY, "proxy", "--upstream", f"http://127.0.0.1:{mock_port}",
                              "--port", str(proxy_port), "--server", server, "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        _wait_for(proxy_port, proxy)
        direct = http.client.HTTPConnection("127.0.0.1", mock_port)
        proxied = http.client.HTTPConnection("127.0.0.1", proxy_port)
        times: dict[str, tuple[list[float], list[float]]] = {c[0]: ([], []) for c in CALLS}
        flagged = 0
        for round_ in range(rounds + 50):  # the first 50 rounds warm both up
            for name, path, body, headers in CALLS:
                order = (direct, proxied) if round_ % 2 else (proxied, direct)
                results = {id(conn): _call(conn, path, body, headers) for conn in order}
                (d_ms, d_status, _), (p_ms, p_status, p_response) = (
                    results[id(direct)], results[id(proxied)])
                if d_status != p_status:
                    raise SystemExit(f"{name}: direct {d_status}, proxied {p_status}")
                flagged += p_response.getheader("x-contract-violations") is not None
                if round_ >= 50:
                    times[name][0].append(d_ms)
                    times[name][1].append(p_ms)
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)
    print(f"\nproxy on {server}: {rounds} calls per kind and side, sequential keep-alive "
          f"calls (ms)")
    print(f"{'call':<24} {'direct50':>8} {'proxy50':>8} {'overhead':>9} {'direct99':>8} "
          f"{'proxy99':>8}")
    for name, (d, p) in times.items():
        print(_row(name, d, p))
    every_d = [t for d, _ in times.values() for t in d]
    every_p = [t for _, p in times.values() for t in p]
    print(_row("all", every_d, every_p))
    overhead = statistics.median(every_p) - statistics.median(every_d)
    print(f"p50 overhead on {server}: {overhead:.3f} ms (target <= 2 ms): "
          f"{'OK' if overhead <= 2 else 'OVER'}; answers flagged as violations: {flagged}")
    return overhead


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000, help="calls per kind and side")
    parser.add_argument("--server", default="both", choices=["both", "waitress", "granian"],
                        help="the proxy's HTTP server (default: each in turn)")
    args = parser.parse_args()
    mock_port = free_port()
    mock = subprocess.Popen([ENVOY, "mock", "--port", str(mock_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(mock_port, mock)
        print("proxy overhead on loopback: the mock on granian; the same calls direct and "
              "through `envoy-events proxy`, alternating")
        servers = ["waitress", "granian"] if args.server == "both" else [args.server]
        results = {server: _measure(mock_port, server, args.rounds) for server in servers}
        print("\n" + "; ".join(f"{s}: +{o:.3f} ms p50" for s, o in results.items()))
    finally:
        mock.terminate()
        mock.wait(timeout=30)


if __name__ == "__main__":
    main()
