"""The Kafka drain loop with a scripted consumer: the cap, the join bound, and what happens to
records of a partition that a rebalance takes away mid-drain (they are dropped, never returned).

The consumer is a small scripted stand-in with kafka-python's own record and partition types;
the real broker behaviour is covered by tests/integration/subscription/test_kafka.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from runner.errors import OperationTimeout
from runner.sources import kafka
from runner.sources.base import PollOptions

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


def _records(tp: TopicPartition, offsets: Iterable[int]) -> list[Any]:
    return [
        ConsumerRecord(tp.topic, tp.partition, 0, o, 0, 0, None, b"x", [], None, 1, 1, 0)
        for o in offsets
    ]


class ScriptedConsumer:
    """Each poll plays the next step: ``{"assign": [...], "revoke": [...], "records": [...]}``."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps, self.assigned = steps, set[TopicPartition]()
        self.listener: Any = None
        self.asked: list[int] = []

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        self.asked.append(max_records)
        step = self.steps.pop(0) if self.steps else {}
        if "revoke" in step:
            self.listener.on_partitions_revoked(step["revoke"])
            self.assigned -= set(step["revoke"])
        if "assign" in step:
            self.assigned |= set(step["assign"])
            self.listener.on_partitions_assigned(step["assign"])
        out: dict[TopicPartition, list[Any]] = {}
        for r in step.get("records", [])[:max_records]:
            out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        return out

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def highwater(self, tp: TopicPartition) -> int | None:
        return None  # unknown: the loop keeps polling while records come

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return 0


class Clock:
    def __init__(self, tick_s: float) -> None:
        self.now, self.tick_s = 0.0, tick_s

    def __call__(self) -> float:
        self.now += self.tick_s
        return self.now


def drain(steps: list[dict[str, Any]], batch: int, tick_s: float = 0.001) -> list[str]:
    consumer = ScriptedConsumer(steps)
    source = kafka.KafkaSource(consumer, "t", "g", clock=Clock(tick_s))
    return [
        kafka.handle(r.topic, r.partition, r.offset)
        for r in source._drain(PollOptions(batch=batch, timeout_ms=1000))
    ]


def test_never_more_than_batch() -> None:
    steps = [
        {"assign": [P0]},
        {"records": _records(P0, range(50))},
        {"records": _records(P0, range(50, 100))},
    ]
    assert drain(steps, batch=60) == [f"t:0:{i}" for i in range(60)]


def test_records_of_a_revoked_partition_are_dropped() -> None:
    """A rebalance mid-drain: what came from the partition it took away is not returned (the
    next owner fetches it again from the committed offset); the rest is."""
    steps = [
        {"assign": [P0, P1], "records": _records(P0, range(3))},
        {"records": _records(P1, range(2))},
        {"revoke": [P0, P1], "assign": [P1], "records": []},
        {"records": _records(P1, range(2, 4))},
    ]
    assert drain(steps, batch=100) == ["t:1:2", "t:1:3"]


def test_records_that_arrive_during_the_join_count() -> None:
    steps = [{"assign": [P0], "records": _records(P0, range(2))}, {}]
    assert drain(steps, batch=100) == ["t:0:0", "t:0:1"]


def test_the_join_is_bounded() -> None:
    """Never assigned (another member holds the group and never leaves): exit 3, not a hang."""
    with pytest.raises(OperationTimeout, match="could not join the consumer group"):
        drain([], batch=10, tick_s=1.0)
