"""The validating proxy (`envoy-events proxy`): forward to an upstream (staging, the mock),
judge every exchange against the spec, annotate answers and keep a report by rule."""

from .app import ProxyApp, ProxyReport
from .server import ProxyServer
from .validate import Exchange, Finding, Validator, Verdict

__all__ = ["ProxyApp", "ProxyReport", "ProxyServer", "Validator", "Exchange", "Finding",
           "Verdict"]
