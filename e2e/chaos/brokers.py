"""The brokers of a chaos run, directly (inside the cluster, with the clients the controller
image carries): one stream/subscription/topic per source, and uniquely numbered messages
published into each (``{"n": i}``, i = 0..count-1), each confirmed by its broker.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

NATS_URL = "nats://nats:4222"
PUBSUB = "pubsub-emulator:8085"
KAFKA = "kafka:9092"
PROJECT = "toolpod-chaos"
#: How long a fetched, unacked message stays invisible before it comes back (NATS ack_wait,
#: Pub/Sub ackDeadlineSeconds): a runner killed mid-batch delays its batch this long.
ACK_WAIT_S = 20
SOURCES = ("nats", "pubsub", "kafka")


@dataclass(frozen=True)
class Targets:
    """Where each source's messages are: the drain fields per source."""

    run: str

    def drain_fields(self, source: str) -> dict[str, Any]:
        if source == "nats":
            return {"auth": "nats_main", "stream": f"C{self.run}", "consumer": "chaos"}
        if source == "pubsub":
            sub = f"projects/{PROJECT}/subscriptions/s{self.run}"
            return {"auth": "pubsub_main", "subscription": sub}
        return {"auth": "kafka_main", "brokers": KAFKA, "topic": f"c{self.run}", "group": "chaos"}


async def setup_nats(t: Targets, count: int) -> None:
    import nats
    from nats.js.api import ConsumerConfig

    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        await js.add_stream(name=f"C{t.run}", subjects=[f"c{t.run}.>"])
        config = ConsumerConfig(durable_name="chaos", ack_wait=ACK_WAIT_S, max_ack_pending=-1)
        await js.add_consumer(f"C{t.run}", config)
        for i in range(count):
            # The message id lets JetStream drop a resent duplicate (dedupe window).
            await js.publish(f"c{t.run}.m", _body(i), headers={"Nats-Msg-Id": f"{t.run}-{i}"})
    finally:
        await nc.close()


async def setup_kv(bucket: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().create_key_value(bucket=bucket)
    finally:
        await nc.close()


def setup_pubsub(t: Targets, count: int) -> None:
    import requests

    root = f"http://{PUBSUB}/v1/projects/{PROJECT}"
    topic, sub = f"{root}/topics/t{t.run}", f"{root}/subscriptions/s{t.run}"
    requests.put(topic, json={}, timeout=30).raise_for_status()
    body = {"topic": f"projects/{PROJECT}/topics/t{t.run}", "ackDeadlineSeconds": ACK_WAIT_S}
    requests.put(sub, json=body, timeout=30).raise_for_status()
    for start in range(0, count, 100):
        msgs = [{"data": _b64(i)} for i in range(start, min(start + 100, count))]
        resp = requests.post(f"{topic}:publish", json={"messages": msgs}, timeout=30)
        resp.raise_for_status()


def setup_kafka(t: Targets, count: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    topic = f"c{t.run}"
    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(60)
    producer = Producer({"bootstrap.servers": KAFKA, "enable.idempotence": True})
    for i in range(count):
        producer.produce(topic, _body(i))
    if producer.flush(60) != 0:
        raise RuntimeError("kafka: records left unsent after 60 s")


async def setup(t: Targets, count: int, sources: tuple[str, ...] = SOURCES) -> None:
    """Every source's target, holding ``count`` numbered messages."""
    jobs = []
    if "nats" in sources:
        jobs.append(setup_nats(t, count))
    if "pubsub" in sources:
        jobs.append(asyncio.to_thread(setup_pubsub, t, count))
    if "kafka" in sources:
        jobs.append(asyncio.to_thread(setup_kafka, t, count))
    await asyncio.gather(*jobs)


def numbers(result: dict[str, Any]) -> tuple[int, ...]:
    """The message numbers a drain's result returned."""
    out = []
    for m in (result.get("data") or {}).get("messages") or []:
        data = m.get("data")
        if isinstance(data, str):
            data = json.loads(data)
        out.append(int(data["n"]))
    return tuple(out)


def _body(i: int) -> bytes:
    return json.dumps({"n": i}).encode()


def _b64(i: int) -> str:
    import base64

    return base64.b64encode(_body(i)).decode()
