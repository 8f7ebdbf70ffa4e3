"""The parity run (`envoy-events parity`): a deployment and a mock that mirrors its caller,
asked the same questions, every difference reported by rule."""

from .mirror import Mirror
from .result import ParityOptions, ParityResult
from .runner import run

__all__ = ["Mirror", "ParityOptions", "ParityResult", "run"]
