"""The npm `centrifuge` client (run by Node's own test runner) against the kit's realtime
stand-in, every row of the proof; the mock's short token TTL makes every connection live
through refreshes by `getToken`."""

from __future__ import annotations

import os
import re
import subprocess

from envoy_events_kit.mock_server import MockServer

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
