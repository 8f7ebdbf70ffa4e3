"""The realtime stand-in: a real Centrifugo, pinned, built, configured and run by the kit.

`install` finds or builds the binary, `config` writes its configuration from the fixtures,
`process` runs it next to the mock, `publisher` feeds it events through its server API.
"""

from .install import (
    CENTRIFUGO_VERSION,
    RealtimeUnavailable,
    find_binary,
)

__all__ = ["CENTRIFUGO_VERSION", "RealtimeUnavailable", "find_binary"]
