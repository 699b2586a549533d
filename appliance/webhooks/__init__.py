"""Signed webhooks on a durable queue (contract section 7)."""
