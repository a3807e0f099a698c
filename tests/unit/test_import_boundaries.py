"""Heavy clients are imported only by the source that needs them (docs/controller.md, import boundaries)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("runner.sources.nats", ("kafka", "confluent_kafka", "google")),
        ("runner.sources.pubsub", ("kafka", "confluent_kafka")),
        ("runner.sources.registry", ("kafka", "confluent_kafka", "google", "requests")),
        # the Kafka path: librdkafka only (kafka-python is the test fixtures' client)
        ("runner.sources.kafka", ("kafka", "google", "kubernetes", "requests", "nats", "pydantic")),
    ],
)
def test_a_source_does_not_import_the_others_clients(
    module: str, forbidden: tuple[str, ...]
) -> None:
    code = f"import sys, {module}; print(','.join(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} imported {out.stdout.strip()}"
