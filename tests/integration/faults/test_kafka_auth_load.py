"""A refused SASL login is ``auth`` (exit 2) every time, also with the CPU saturated: the
classification must not depend on which of the broker's answer and a timeout comes first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import runner_cli as cli
from tests.fixtures.kafka import KafkaBroker

pytestmark = pytest.mark.integration

#: CI runs 5, the issue's check is TOOLPOD_KAFKA_AUTH_RUNS=20 (20 of 20 measured with
#: librdkafka; kafka-python said auth in 3 of 20 unless a second login of our own asked again).
RUNS = int(os.environ.get("TOOLPOD_KAFKA_AUTH_RUNS", "5"))


@pytest.fixture
def busy_loops() -> Iterator[None]:
    """Two busy loops, as `stress --cpu 2` would run: every core is taken."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()


def test_a_wrong_password_is_auth_every_time_under_cpu_load(
    kafka_broker: KafkaBroker, creds: Path, busy_loops: None
) -> None:
    topic = kafka_broker.create_topic()
    alias = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
             "username": "alice", "password": "not-her-password"}
    (creds / "kafka_sasl").write_text(json.dumps(alias))
    tool = {"kind": "subscription", "source": "kafka", "auth": "kafka_sasl", "topic": topic,
            "group": "g-auth", "brokers": kafka_broker.sasl_bootstrap, "timeout_ms": 1000}
    outcomes = []
    for _ in range(RUNS):
        out = cli.run({"tool": tool}, creds)
        outcomes.append((out.code, out.result.get("error", {}).get("kind"), round(out.wall_s, 1)))
    assert all(code == 2 and kind == "auth" for code, kind, _ in outcomes), outcomes
