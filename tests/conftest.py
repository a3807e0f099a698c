"""Shared fixtures: real brokers on free loopback ports (see tests/fixtures/)."""

from collections.abc import Iterator

import pytest

from tests.fixtures import runner_cli

pytest_plugins = [
    "tests.fixtures.nats",
    "tests.fixtures.kafka",
    "tests.fixtures.pubsub",
    "tests.fixtures.helm",
]


@pytest.fixture(autouse=True)
def _reap_runners() -> Iterator[None]:
    """Runners a test started and left behind are killed, their pipes closed."""
    yield
    runner_cli.reap()
