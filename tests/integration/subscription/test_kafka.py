"""The ``subscription`` tool with source ``kafka``, against a real KRaft broker, through the CLI.

Each test reads as one rule of docs/reference.md §3 / §5; every test has its own topic and group.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import runner_cli as cli
from tests.fixtures._process import free_port, unique
from tests.fixtures.kafka import KafkaBroker, Record

pytestmark = pytest.mark.integration

#: Slack for process start-up, connection and the group join on top of a drain's timeout.
SETUP_S = 3.0


@pytest.fixture
def group() -> str:
    return unique("g")


def spec(broker: KafkaBroker, topic: str, group: str, **fields: Any) -> dict[str, Any]:
    tool = {
        "kind": "subscription",
        "source": "kafka",
        "brokers": broker.bootstrap,
        "topic": topic,
        "group": group,
        **fields,
    }
    return {"execution_id": "it-kafka", "step": "drain", "tool": tool}


def poll(broker: KafkaBroker, topic: str, group: str, creds: Path, **fields: Any) -> cli.Outcome:
    out = cli.run(spec(broker, topic, group, **fields), creds)
    assert out.code == 0, (out.result, out.stderr[-2000:])
    return out


# -- drain rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "partitions", "batch", "timeout_ms", "counts", "max_runner_s"),
    [
        pytest.param(150, 1, 100, 1000, [100, 50], 1 + SETUP_S, id="150 ready, batch 100"),
        pytest.param(150, 3, 100, 1000, [100, 50], 1 + SETUP_S, id="150 on 3 partitions"),
        pytest.param(5, 1, 100, 4000, [5], 1.5 + SETUP_S / 2, id="5 ready: well before 4 s"),
        pytest.param(
            2, 3, 100, 4000, [2], 1.5 + SETUP_S / 2, id="2 ready, 1 partition empty: before 4 s"
        ),
        pytest.param(0, 1, 100, 1500, [0], 1.5 + SETUP_S, id="empty: 0 after about timeout"),
        pytest.param(5, 1, 100, 0, [5], SETUP_S, id="timeout_ms 0: what is ready"),
        pytest.param(1000, 1, 1000, 1000, [1000], 2 + SETUP_S, id="1000 ready, batch 1000"),
    ],
)
def test_drain_rules(
    kafka_broker: KafkaBroker,
    group: str,
    creds: Path,
    ready: int,
    partitions: int,
    batch: int,
    timeout_ms: int,
    counts: list[int],
    max_runner_s: float,
) -> None:
    topic = kafka_broker.create_topic(partitions=partitions)
    kafka_broker.produce(topic, [Record(b"%d" % i, partition=i % partitions) for i in range(ready)])
    seen: list[str] = []
    for expected in counts:
        out = poll(kafka_broker, topic, group, creds, batch=batch, timeout_ms=timeout_ms)
        assert out.data["count"] == expected
        assert out.runner_s < max_runner_s
        if expected == 0:
            assert out.runner_s >= timeout_ms / 1000, "an empty drain waits out timeout_ms"
        seen += out.ids()
    assert len(set(seen)) == ready, "nothing returned twice, nothing lost"


def test_noetl_kind_validation_scenario(kafka_broker: KafkaBroker, group: str, creds: Path) -> None:
    """publish 5 → poll batch 50, timeout 4000, on_success → 5 acked → poll again → 0."""
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 5)
    first = poll(kafka_broker, topic, group, creds, batch=50, timeout_ms=4000, ack="on_success")
    assert (first.data["count"], first.data["acked"]) == (5, True)
    again = poll(kafka_broker, topic, group, creds, batch=50, timeout_ms=4000, ack="on_success")
    assert (again.data["count"], again.data["acked"]) == (0, False)


def test_only_what_was_returned_is_committed(
    kafka_broker: KafkaBroker, group: str, creds: Path
) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 30)
    first = poll(kafka_broker, topic, group, creds, batch=10, timeout_ms=1000)
    assert first.ids() == [f"{topic}:0:{i}" for i in range(10)]
    assert kafka_broker.committed(group, topic) == {0: 10}
    rest = poll(kafka_broker, topic, group, creds, batch=100, timeout_ms=1000)
    assert rest.data["count"] == 20
    assert kafka_broker.committed(group, topic) == {0: 30}


# -- ack modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ack", "committed"),
    [
        ("on_success", 3),
        ("auto", 3),
        (True, 3),
        ("manual", None),
        (False, None),
        ("defer", None),
        ("none", None),
        ("Peek", None),
    ],
)
def test_ack_modes(
    kafka_broker: KafkaBroker, group: str, creds: Path, ack: Any, committed: int | None
) -> None:
    """Kafka has no handles: only ack-everything modes commit; the others return no ack_ids."""
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 3)
    out = poll(kafka_broker, topic, group, creds, timeout_ms=2000, ack=ack)
    assert out.data["count"] == 3
    assert out.data["acked"] is (committed is not None)
    assert out.data["ack_ids"] == []
    assert all("ack_id" not in m for m in out.data["messages"])
    assert kafka_broker.committed(group, topic) == {0: committed}
    again = poll(kafka_broker, topic, group, creds, timeout_ms=1000, ack="none")
    assert again.data["count"] == (0 if committed else 3), "uncommitted records come back"


@pytest.mark.parametrize("operation", ["ack", "nack", "term"])
def test_dispose_operations_are_a_clear_error(
    kafka_broker: KafkaBroker, group: str, creds: Path, operation: str
) -> None:
    topic = kafka_broker.create_topic()
    out = cli.run(
        spec(kafka_broker, topic, group, operation=operation, ack_ids=[f"{topic}:0:0"]), creds
    )
    assert out.code == 2
    assert out.result["error"]["kind"] == "configuration"
    assert "no ack handles" in out.error


# -- envelope: headers, key, timestamp, payloads --------------------------------------------------


def test_headers_key_and_timestamp(kafka_broker: KafkaBroker, group: str, creds: Path) -> None:
    topic = kafka_broker.create_topic()
    headers = [("X-Kind", b"order"), ("x-kind", b"refund"), ("Trace", b"1"), ("Trace", b"2")]
    kafka_broker.produce(topic, [Record(b'{"a":1}', key=b"order-42", headers=headers)])
    (msg,) = poll(kafka_broker, topic, group, creds, timeout_ms=2000).data["messages"]
    assert msg["headers"] == {"x-kind": ["order", "refund"], "trace": ["1", "2"]}
    assert msg["attributes"] == {"X-Kind": "order", "x-kind": "refund", "Trace": ["1", "2"]}
    meta = msg["metadata"]
    assert {k: meta[k] for k in ("topic", "partition", "offset", "key")} == {
        "topic": topic,
        "partition": 0,
        "offset": 0,
        "key": "order-42",
    }
    assert isinstance(meta["timestamp"], int)
    assert meta["timestamp"] > 1_600_000_000_000
    assert msg["id"] == f"{topic}:0:0"


@pytest.mark.parametrize(
    ("raw", "data", "encoding"),
    [
        (b'{"order_id": 42}', {"order_id": 42}, None),
        (b"plain text, not JSON", "plain text, not JSON", None),
        (b"\xff\xfe\x00\x01", "//4AAQ==", "base64"),
        (b"", "", None),
    ],
    ids=["json", "text", "not-utf8", "empty"],
)
def test_payloads(
    kafka_broker: KafkaBroker,
    group: str,
    creds: Path,
    raw: bytes,
    data: Any,
    encoding: str | None,
) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce(topic, [Record(raw, key=b"\xff")])
    (msg,) = poll(kafka_broker, topic, group, creds, timeout_ms=2000).data["messages"]
    assert msg["data"] == data
    assert msg.get("encoding") == encoding
    assert (msg["metadata"]["key"], msg["metadata"]["key_encoding"]) == ("/w==", "base64")


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["brokers", "topic", "group"])
def test_missing_required_field_is_exit_2_naming_it(
    kafka_broker: KafkaBroker, creds: Path, missing: str
) -> None:
    s = spec(kafka_broker, "t", "g")
    del s["tool"][missing]
    out = cli.run(s, creds)
    assert out.code == 2
    assert missing in out.error


def test_topic_that_does_not_exist_is_exit_2(
    kafka_broker: KafkaBroker, group: str, creds: Path
) -> None:
    out = cli.run(spec(kafka_broker, "no-such-topic", group, timeout_ms=1000), creds)
    assert out.code == 2
    assert "no-such-topic" in out.error
    assert "does not exist" in out.error


@pytest.mark.parametrize("brokers", ["127.0.0.1:{port}", ["127.0.0.1:{port}", "127.0.0.1:{port}"]])
def test_unreachable_brokers_are_exit_3_within_timeout_plus_a_bound(
    creds: Path, brokers: str | list[str]
) -> None:
    port = free_port()
    listed = [b.format(port=port) for b in brokers] if isinstance(brokers, list) else brokers
    s = {
        "kind": "subscription",
        "source": "kafka",
        "topic": "t",
        "group": "g",
        "brokers": listed.format(port=port) if isinstance(listed, str) else listed,
        "timeout_ms": 1000,
    }
    out = cli.run(s, creds)
    assert out.code == 3, out.result
    assert out.result["error"]["retriable"] is True
    assert out.runner_s < 1 + 5 + SETUP_S


# -- at-least-once (docs/reference.md §5) ----------------------------------------------------------------------


def test_killed_before_ack_every_message_is_delivered_again(
    kafka_broker: KafkaBroker, group: str, creds: Path, tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 4)
    result_file = tmp_path / "result.json"
    proc = cli.start_paused_before_ack(
        spec(kafka_broker, topic, group, timeout_ms=2000), creds, result_file, 60
    )
    try:
        written = cli.wait_for_file(result_file)
        assert written["data"]["count"] == 4
        assert written["data"]["acked"] is False, "the first write happens before the commit"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert kafka_broker.committed(group, topic) == {0: None}
    # the killed member stays in the group until its session times out; the join waits for it
    again = poll(kafka_broker, topic, group, creds, timeout_ms=2000)
    assert again.ids() == [f"{topic}:0:{i}" for i in range(4)]


def test_failed_result_write_leaves_messages_uncommitted(
    kafka_broker: KafkaBroker, group: str, creds: Path, tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 4)
    out = cli.run(
        spec(kafka_broker, topic, group, timeout_ms=2000),
        creds,
        sink=cli.UNWRITABLE_SINK,
    )
    assert out.code == 4
    assert kafka_broker.committed(group, topic) == {0: None}
    assert poll(kafka_broker, topic, group, creds, timeout_ms=2000).data["count"] == 4


def test_a_sigterm_while_waiting_stops_the_drain_at_once_and_commits_nothing(
    kafka_broker: KafkaBroker, group: str, creds: Path
) -> None:
    """The drain's thread stops within one wait slice (not at timeout_ms), then the member
    leaves the group: the next drain joins at once and gets everything."""
    topic = kafka_broker.create_topic()
    proc = cli.start(spec(kafka_broker, topic, group, timeout_ms=5000), creds, sink="stdout")
    assert proc.stderr is not None
    while "invocation started" not in proc.stderr.readline():
        pass
    time.sleep(1.0)  # joined, and waiting for records that do not come
    proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert proc.wait(timeout=30) == 143
    assert time.monotonic() - signalled < 2, "stopped within a wait slice, not at timeout_ms"
    kafka_broker.produce_n(topic, 3)
    again = poll(kafka_broker, topic, group, creds, timeout_ms=2000)
    assert again.ids() == [f"{topic}:0:{i}" for i in range(3)]
    assert again.runner_s < 2 + SETUP_S, "the stopped member left the group"


# -- two drains of one group at once --------------------------------------------------------------


@pytest.mark.parametrize("partitions", [1, 2])
def test_concurrent_drains_of_one_group_never_share_a_record(
    kafka_broker: KafkaBroker, group: str, creds: Path, partitions: int
) -> None:
    """Group membership makes the coordinator the lock: two drains running at the same time
    never return the same record while both commit, and together they return every record."""
    topic = kafka_broker.create_topic(partitions=partitions)
    total = 60
    kafka_broker.produce(topic, [Record(b"%d" % i, partition=i % partitions) for i in range(total)])
    committed: list[list[str]] = [[], []]
    failures: list[str] = []

    def drain(worker: int) -> None:
        empty_in_a_row = 0
        while empty_in_a_row < 2:
            out = cli.run(spec(kafka_broker, topic, group, batch=7, timeout_ms=1000), creds)
            if out.code != 0:
                failures.append(f"worker {worker}: exit {out.code} {out.error}")
                return
            if out.data["acked"]:
                committed[worker] += out.ids()
            empty_in_a_row = 0 if out.data["count"] else empty_in_a_row + 1

    threads = [threading.Thread(target=drain, args=(w,)) for w in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not failures
    both = committed[0] + committed[1]
    assert len(both) == len(set(both)), "a record was returned by two drains that both committed"
    assert len(set(both)) == total, "every record was returned and committed once"
    assert committed[0]
    assert committed[1], "both drains took part"


# -- credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "code"), [("alice-secret", 0), ("not-her-password", 2)])
def test_sasl_credentials_from_the_auth_alias(
    kafka_broker: KafkaBroker, group: str, creds: Path, password: str, code: int
) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 2)
    alias = {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "username": "alice",
        "password": password,
    }
    (creds / "kafka_sasl").write_text(json.dumps(alias))
    s = spec(kafka_broker, topic, group, auth="kafka_sasl", timeout_ms=2000)
    s["tool"]["brokers"] = kafka_broker.sasl_bootstrap
    out = cli.run(s, creds)
    assert out.code == code, out.result
    if code == 0:
        assert out.data["count"] == 2
    else:
        assert out.result["error"]["kind"] == "auth"
        assert out.runner_s < 5, "reported when the broker refuses, not at the 5 s bootstrap bound"
        assert password not in out.error
        assert password not in out.stderr
