"""The Kafka drain loop with a scripted consumer: the cap, the join bound, the end of the
partitions, and what happens to records of a partition that a rebalance takes away mid-drain
(they are dropped, never returned).

The consumer is a small scripted stand-in speaking confluent-kafka's API with its own message
and partition types; the real broker behaviour is covered by
tests/integration/subscription/test_kafka.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from runner.errors import OperationTimeout
from runner.sources import kafka
from runner.sources.base import PollOptions

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


def _records(tp: TopicPartition, offsets: Iterable[int]) -> list[Message]:
    return [Message(topic=tp.topic, partition=tp.partition, offset=o, value=b"x") for o in offsets]


def _end(tp: TopicPartition) -> Message:
    """librdkafka's end-of-partition event."""
    error = KafkaError(KafkaError._PARTITION_EOF)
    return Message(topic=tp.topic, partition=tp.partition, error=error)


class ScriptedConsumer:
    """Each wait plays the next step: ``{"assign": [...], "revoke": [...], "records": [...]}``;
    the records of a step are handed out in as many calls as ``consume``'s count asks."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps, self.assigned = steps, set[tuple[str, int]]()
        self.callbacks: dict[str, Any] = {}
        self.ready: list[Message] = []
        self.committed_asked: list[TopicPartition] = []

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if not self.ready and timeout > 0:
            self._play(self.steps.pop(0) if self.steps else {})
        out, self.ready = self.ready[:num_messages], self.ready[num_messages:]
        return out

    def _play(self, step: dict[str, Any]) -> None:
        if "revoke" in step:
            self.callbacks["on_revoke"](self, step["revoke"])
            self.assigned -= {(tp.topic, tp.partition) for tp in step["revoke"]}
            self.ready = []
        if "assign" in step:
            self.assigned |= {(tp.topic, tp.partition) for tp in step["assign"]}
            self.callbacks["on_assign"](self, step["assign"])
        self.ready += step.get("records", [])

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        self.committed_asked += partitions
        return [TopicPartition(tp.topic, tp.partition, -1001) for tp in partitions]

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.started_at = [tp.offset for tp in partitions]

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in sorted(self.assigned)]


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
        kafka.handle(r.topic(), r.partition(), r.offset())
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
        {"records": [*_records(P1, range(2, 4)), _end(P1)]},
    ]
    assert drain(steps, batch=100) == ["t:1:2", "t:1:3"]


def test_records_that_arrive_during_the_join_count() -> None:
    steps = [{"assign": [P0], "records": [*_records(P0, range(2)), _end(P0)]}]
    assert drain(steps, batch=100) == ["t:0:0", "t:0:1"]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [{"assign": [P0, P1], "records": [*_records(P0, range(2)), _end(P0), _end(P1)]}],
            ["t:0:0", "t:0:1"],
            id="every partition at its end: done at once",
        ),
        pytest.param(
            [
                {"assign": [P0, P1], "records": [*_records(P0, range(2)), _end(P0)]},
                {},
                {"records": [*_records(P1, range(1)), _end(P1)]},
            ],
            ["t:0:0", "t:0:1", "t:1:0"],
            id="one partition not yet at its end: keep polling",
        ),
    ],
)
def test_the_drain_ends_when_every_partition_is_read_to_its_end(
    steps: list[dict[str, Any]], expected: list[str]
) -> None:
    assert drain(steps, batch=100) == expected


def test_a_partition_without_a_committed_offset_starts_at_the_beginning() -> None:
    consumer = ScriptedConsumer([{"assign": [P0], "records": [_end(P0)]}])
    source = kafka.KafkaSource(consumer, "t", "g", clock=Clock(0.01))
    source._drain(PollOptions(batch=1, timeout_ms=0))
    assert consumer.committed_asked == [P0]
    assert consumer.started_at == [kafka.OFFSET_BEGINNING]


def _error(code: int, fatal: bool = False) -> Message:
    return Message(topic="t", partition=0, error=KafkaError(code, fatal=fatal))


@pytest.mark.parametrize(
    ("event", "ends"),
    [
        (_error(KafkaError.TOPIC_AUTHORIZATION_FAILED), True),
        (_error(KafkaError.UNKNOWN_TOPIC_OR_PART), True),
        (_error(KafkaError._FATAL, fatal=True), True),
        (_error(KafkaError._TRANSPORT), False),  # librdkafka reconnects by itself
        (_error(KafkaError._ALL_BROKERS_DOWN), False),
    ],
)
def test_an_error_event_ends_the_drain_only_when_retrying_cannot_fix_it(
    event: Message, ends: bool
) -> None:
    steps = [{"assign": [P0], "records": [event, *_records(P0, range(1)), _end(P0)]}]
    if ends:
        with pytest.raises(KafkaException):
            drain(steps, batch=10)
    else:
        assert drain(steps, batch=10) == ["t:0:0"]


def test_the_join_is_bounded() -> None:
    """Never assigned (another member holds the group and never leaves): exit 3, not a hang."""
    with pytest.raises(OperationTimeout, match="could not join the consumer group"):
        drain([], batch=10, tick_s=1.0)


@pytest.mark.parametrize(
    ("steps", "batch", "asks"),
    [
        pytest.param([{"assign": [P0], "records": _records(P0, range(3))}], 3, False,
                     id="a full batch: the broker just answered"),
        pytest.param([{"assign": [P0], "records": [*_records(P0, range(2)), _end(P0)]}], 10, False,
                     id="records, then every partition at its end"),
        pytest.param([{"assign": [P0], "records": [_end(P0)]}], 10, True,
                     id="nothing until the deadline: an empty topic or a frozen broker"),
        pytest.param([{"assign": [P0, P1], "records": [*_records(P0, range(2)), _end(P0)]}], 10, True,
                     id="records, then the clock: a partition never reached its end"),
    ],
)
def test_only_a_drain_its_clock_ended_asks_whether_the_broker_is_alive(
    steps: list[dict[str, Any]], batch: int, asks: bool
) -> None:
    source = kafka.KafkaSource(ScriptedConsumer(steps), "t", "g", clock=Clock(0.01))
    source._drain(PollOptions(batch=batch, timeout_ms=100))
    assert source._heard_last is not asks
