"""Hooks for a stock `schemathesis run` against the mock: `SCHEMATHESIS_HOOKS=` this module.

Importing it registers the hooks globally, which is what the CLI wants; the suite itself
registers `one_channel.align_channel` on its own schema instead.
"""

import schemathesis
from envoy_events_kit.contract_tests.one_channel import align_channel

schemathesis.hook("map_case")(align_channel)
