"""A bounded drain per subscription source, end to end through Jobs on the kind cluster:
messages published by the test come back in the ToolResult, acked only once it was written."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import Toolpod
from controller.k8s import Kube

from .controller_helpers import (
    credential_secret,
    wait_no_toolpod_objects,
)

pytestmark = pytest.mark.cluster


def drain(source: str, **fields: Any) -> dict[str, Any]:
    tool = {"kind": "subscription", "source": source, "batch": 10, "timeout_ms": 1000, **fields}
    return {"execution_id": f"drain-{source}", "step": "drain", "tool": tool}


def test_nats_drain(toolpod: Toolpod, kube: Kube, namespace: str, nats: Any) -> None:
    credential_secret(kube, namespace, "nats_main", nats.server.credential())
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream)
    nats.publish(f"{prefix}.o", [b'{"order":1}', b'{"order":2}'], headers={"X-Kind": "order"})
    out = toolpod.run_sync(drain("nats", auth="nats_main", stream=stream, consumer=consumer), 120)
    assert out.exit_code == 0, out
    data = out.result["data"]
    assert [m["data"] for m in data["messages"]] == [{"order": 1}, {"order": 2}]
    assert data["messages"][0]["headers"] == {"x-kind": "order"}
    assert (data["source"], data["count"], data["acked"]) == ("nats", 2, True)
    again = toolpod.run_sync(
        drain("nats", auth="nats_main", stream=stream, consumer=consumer, timeout_ms=200), 120
    )
    assert again.result["data"]["count"] == 0  # acked: not redelivered
    assert wait_no_toolpod_objects(kube, namespace) == []


def test_pubsub_drain(toolpod: Toolpod, pubsub_emulator: Any) -> None:
    topic, subscription = pubsub_emulator.topic_and_subscription(ack_deadline_s=10)
    pubsub_emulator.publish_n(topic, 3)
    out = toolpod.run_sync(
        drain("pubsub", subscription=subscription, endpoint=pubsub_emulator.host), 120
    )
    assert out.exit_code == 0, out
    data = out.result["data"]
    assert sorted(m["data"]["i"] for m in data["messages"]) == [0, 1, 2]
    assert (data["source"], data["count"], data["acked"]) == ("pubsub", 3, True)


def test_kafka_drain(toolpod: Toolpod, kafka_broker: Any) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 4)
    doc = drain(
        "kafka",
        brokers=kafka_broker.bootstrap,
        topic=topic,
        group=f"g-{topic}",
        timeout_ms=3000,
        batch=5000,
    )
    out = toolpod.run_sync(doc, 120)
    assert out.exit_code == 0, out
    data = out.result["data"]
    assert [m["data"]["i"] for m in data["messages"]] == [0, 1, 2, 3]
    assert data["messages"][0]["id"] == f"{topic}:0:0"
    assert kafka_broker.committed(f"g-{topic}", topic) == {0: 4}
    assert "batch 5000 clamped to 1000 (allowed 1..1000)" in out.result["warnings"]
