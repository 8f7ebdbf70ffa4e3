"""Contract suite for the Envoy Event Streaming API, and the pytest plugin that serves it."""
