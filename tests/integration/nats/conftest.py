"""Helpers for the nats tool's tests: fresh buckets and streams, and the runner CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures._process import unique
from tests.fixtures.nats import NatsServer
from tests.fixtures.runner_cli import Outcome, run

pytestmark = pytest.mark.integration


class Nats:
    """The session's server plus a credentials dir: what every test in this folder needs."""

    def __init__(self, server: NatsServer, creds: Path) -> None:
        self.server, self.creds = server, creds

    def tool(self, operation: str, **fields: Any) -> Outcome:
        spec = {"kind": "nats", "operation": operation, "auth": "nats_main", **fields}
        return run(spec, self.creds)

    def kv_bucket(self, **config: Any) -> str:
        name = unique("kv").replace("-", "_")
        self.server.run(lambda js: js.create_key_value(bucket=name, **config))
        return name

    def object_bucket(self) -> str:
        name = unique("obj").replace("-", "_")
        self.server.run(lambda js: js.create_object_store(bucket=name))
        return name

    def stream(self) -> tuple[str, str]:
        """A fresh stream capturing ``<subject prefix>.>``; returns (stream, subject prefix)."""
        name = unique("S").replace("-", "_")
        prefix = name.lower()
        self.server.run(lambda js: js.add_stream(name=name, subjects=[f"{prefix}.>"]))
        return name, prefix

    def consumer(self, stream: str, **config: Any) -> str:
        name = unique("c")
        self.server.run(
            lambda js: js.add_consumer(stream, durable_name=name, ack_policy="explicit", **config)
        )
        return name

    def publish(self, subject: str, payloads: list[bytes], headers: dict[str, str] | None = None) -> None:
        async def go(js: Any) -> None:
            for p in payloads:
                await js.publish(subject, p, headers=headers)

        self.server.run(go)


@pytest.fixture
def nats(nats_server: NatsServer, nats_creds: Path) -> Nats:
    return Nats(nats_server, nats_creds)
