"""Signed webhook delivery (Standard Webhooks): endpoint secrets and URL policy, signing,
the delivery worker with retries, and the delivery log."""
