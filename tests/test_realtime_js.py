"""The npm `centrifuge` client (run by Node's own test runner) against the kit's realtime
stand-in, every row of the proof; the mock's short token TTL makes every connection live
through refreshes by `getToken`."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

from envoy_events_kit.mock_server import MockServer

from tests.conftest import ACME
from tests.realtime_parts import JS_DIR, centrifugo_or_skip, node_client_or_skip


def test_the_npm_client_passes_every_row():
    centrifugo_or_skip()
    node = node_client_or_skip()
    with MockServer({"realtime": True, "token_ttl": 3, "clock": "real"}) as mock:
        env = {**os.environ, "MOCK_URL": mock.url,
               "WS_URL": mock.state.realtime.websocket_url}
        result = subprocess.run([node, "--test", "--test-reporter=tap", "realtime.test.js"],
                                cwd=JS_DIR, env=env, capture_output=True, text=True,
                                timeout=180)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    passed = int(re.search(r"^# pass (\d+)$", report, re.MULTILINE).group(1))
    assert passed == 10 and re.search(r"^# fail 0$", report, re.MULTILINE), report


DOCS = Path(__file__).parents[1] / "docs" / "realtime.md"


def _node_snippet() -> str:
    """The js block after the `node-snippet` marker of docs/realtime.md, as written."""
    text = DOCS.read_text()
    after = text[text.index("<!-- node-snippet:"):]
    return after.split("```js\n", 1)[1].split("\n```", 1)[0] + "\n"


def _run_snippet(node: str, source: str, mock_url: str, script: Path) -> subprocess.Popen:
    """The snippet in tests/realtime_js (its node_modules has centrifuge and ws), pointed at
    this test's mock: the one line changed is the mock's URL."""
    assert "const MOCK = 'http://127.0.0.1:8080';" in source
    script.write_text(source.replace("http://127.0.0.1:8080", mock_url))
    return subprocess.Popen([node, script.name], cwd=JS_DIR, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _lines(process: subprocess.Popen) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.rstrip()) for line in process.stdout],
                     daemon=True).start()
    return lines


def _until(lines: queue.Queue, wanted: str, seen: list[str], timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if wanted in line:
            return line
    raise AssertionError(f"no line with {wanted!r}; the snippet printed: {seen}")


def test_the_node_snippet_of_the_docs_runs_as_written():
    centrifugo_or_skip()
    node = node_client_or_skip()
    source = _node_snippet()
    script = JS_DIR / f".docs-snippet-{os.getpid()}.mjs"
    try:
        with MockServer({"realtime": True, "clock": "real"}) as mock:
            process = _run_snippet(node, source, mock.url, script)
            try:
                seen: list[str] = []
                lines = _lines(process)
                _until(lines, "connected", seen)
                mock.state.events.publish(
                    "shipment.updated", {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv",
                                         "status": "in_transit"}, organisation=ACME)
                line = _until(lines, "shipment.updated", seen)
                assert line.startswith(f"shipments:{ACME} shipment.updated ")
                assert json.loads(line.split(" ", 2)[2])["status"] == "in_transit"
            finally:
                process.kill()
                process.wait(timeout=10)
            if int(subprocess.run([node, "-p", "process.versions.node.split('.')[0]"],
                                  capture_output=True, text=True).stdout) < 22:
                # What the docs warn about: without `ws`, Node 20 cannot connect.
                bare = source.replace("  websocket: WebSocket,\n", "")
                assert bare != source
                process = _run_snippet(node, bare, mock.url, script)
                try:
                    seen = []
                    _until(_lines(process), "WebSocket constructor not found", seen)
                finally:
                    process.kill()
                    process.wait(timeout=10)
    finally:
        script.unlink(missing_ok=True)
