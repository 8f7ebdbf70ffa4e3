"""Events: the bus and envelope, scenarios, and the sinks beside them (realtime/, webhooks/)."""
