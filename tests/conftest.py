"""Shared fixtures: real brokers on free loopback ports (see tests/fixtures/)."""

pytest_plugins = [
    "tests.fixtures.nats",
    "tests.fixtures.kafka",
    "tests.fixtures.pubsub",
    "tests.fixtures.helm",
]
