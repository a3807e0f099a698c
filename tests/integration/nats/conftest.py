"""The nats tool's tests use the ``nats`` fixture from tests/fixtures/nats.py."""
