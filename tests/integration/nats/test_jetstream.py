"""docs/reference.md §2 JetStream rows (js_publish, js_get_msg, js_stream_info, js_consume) on a real server."""

from __future__ import annotations

import pytest

from tests.fixtures.nats import Nats

pytestmark = pytest.mark.integration


def test_publish_with_headers_then_get_msg_returns_them(nats: Nats) -> None:
    stream, prefix = nats.stream()
    pub = nats.tool("js_publish", subject=f"{prefix}.created", data={"order_id": 42},
                    headers={"X-Kind": "order", "Trace-Id": "t-1"})
    assert pub.code == 0, pub.error
    assert pub.data == {"status": "success", "stream": stream, "seq": 1, "duplicate": False}

    got = nats.tool("js_get_msg", stream=stream, seq=1)
    assert got.code == 0, got.error
    assert got.data["subject"] == f"{prefix}.created"
    assert got.data["data"] == {"order_id": 42}
    assert got.data["headers"] == {"x-kind": "order", "trace-id": "t-1"}
    assert got.data["time"].endswith("Z")


def test_publish_is_deduplicated_by_msg_id(nats: Nats) -> None:
    _, prefix = nats.stream()
    first = nats.tool("js_publish", subject=f"{prefix}.a", data="x", headers={"Nats-Msg-Id": "m1"})
    again = nats.tool("js_publish", subject=f"{prefix}.a", data="x", headers={"Nats-Msg-Id": "m1"})
    assert (first.data["duplicate"], again.data["duplicate"]) == (False, True)
    assert again.data["seq"] == first.data["seq"]


def test_get_msg_precedence_seq_then_last_then_subject(nats: Nats) -> None:
    stream, prefix = nats.stream()
    for subject, data in (("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2")):
        nats.tool("js_publish", subject=f"{prefix}.{subject}", data=data)
    by = {
        "seq wins over last and subject": {"seq": 1, "last": True, "subject": f"{prefix}.b"},
        "last on a subject": {"last": True, "subject": f"{prefix}.a"},
        "last in the stream": {"last": True},
        "subject alone means its last": {"subject": f"{prefix}.a"},
    }
    got = {name: nats.tool("js_get_msg", stream=stream, **sel).data["data"] for name, sel in by.items()}
    assert got == {"seq wins over last and subject": "a1", "last on a subject": "a2",
                   "last in the stream": "b2", "subject alone means its last": "a2"}


@pytest.mark.parametrize(
    ("selector", "message"),
    [({"seq": 99}, "message seq 99 not found"),
     ({"subject": "nobody.here"}, "last message on subject 'nobody.here' not found")],
)
def test_get_msg_of_a_missing_message_names_it(nats: Nats, selector: dict[str, object], message: str) -> None:
    stream, prefix = nats.stream()
    nats.tool("js_publish", subject=f"{prefix}.a", data="x")
    out = nats.tool("js_get_msg", stream=stream, **selector)
    assert out.code == 2
    assert message in out.error


def test_stream_info_reports_config_and_state(nats: Nats) -> None:
    stream, prefix = nats.stream()
    nats.tool("js_publish", subject=f"{prefix}.a", data="x")
    nats.consumer(stream)
    info = nats.tool("js_stream_info", stream=stream)
    assert info.code == 0
    assert info.data["config"]["name"] == stream
    assert info.data["config"]["subjects"] == [f"{prefix}.>"]
    assert info.data["config"]["retention"] == "limits"
    assert set(info.data["config"]) == {"name", "subjects", "retention", "max_msgs", "max_bytes", "max_age"}
    assert {k: info.data["state"][k] for k in ("messages", "first_seq", "last_seq", "consumer_count")} == {
        "messages": 1, "first_seq": 1, "last_seq": 1, "consumer_count": 1}


@pytest.mark.parametrize("operation", ["js_stream_info", "js_get_msg"])
def test_a_missing_stream_is_an_error_naming_it(nats: Nats, operation: str) -> None:
    out = nats.tool(operation, stream="NO_STREAM", last=True)
    assert out.code == 2
    assert "stream 'NO_STREAM'" in out.error


def test_publish_to_a_subject_no_stream_captures_is_an_error(nats: Nats) -> None:
    out = nats.tool("js_publish", subject="uncaptured.subject", data="x")
    assert out.code == 2
    assert "no JetStream stream answers" in out.error
    assert "uncaptured.subject" in out.error


def test_consume_drains_exactly_what_was_published_and_acks_it(nats: Nats) -> None:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream)
    nats.publish(f"{prefix}.o", [b'{"n": %d}' % i for i in range(5)], headers={"X-Kind": "order"})

    first = nats.tool("js_consume", stream=stream, consumer=consumer, batch=50, timeout_ms=4000)
    assert first.code == 0, first.error
    assert set(first.data) == {"status", "stream", "consumer", "count", "messages", "acked"}
    assert (first.data["count"], first.data["acked"]) == (5, True)
    assert [m["data"] for m in first.data["messages"]] == [{"n": i} for i in range(5)]
    assert first.data["messages"][0] == {  # NoETL's js_consume shape, not the subscription envelope
        "subject": f"{prefix}.o", "stream_seq": 1, "consumer_seq": 1, "delivered": 1, "pending": 4,
        "data": {"n": 0}, "headers": {"x-kind": "order"},
    }
    assert first.runner_s < 3.5, "5 ready messages must not wait out the 4 s timeout"

    again = nats.tool("js_consume", stream=stream, consumer=consumer, batch=50, timeout_ms=300)
    assert (again.data["count"], again.data["acked"]) == (0, False)


def test_consume_with_ack_false_leaves_messages_for_redelivery(nats: Nats) -> None:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream, ack_wait=1)
    nats.publish(f"{prefix}.o", [b"a", b"b"])
    peek = nats.tool("js_consume", stream=stream, consumer=consumer, ack=False, timeout_ms=500)
    assert (peek.data["count"], peek.data["acked"]) == (2, False)
    assert "ack_ids" not in peek.data, "NoETL's js_consume has no handles to return"
    redelivered = nats.tool("js_consume", stream=stream, consumer=consumer, timeout_ms=3000)
    assert redelivered.data["count"] == 2
    assert redelivered.data["messages"][0]["delivered"] == 2


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("stream", "stream 'NO_STREAM' does not exist"),
        ("consumer", "durable consumer 'ghost' does not exist on stream '{stream}'"),
    ],
)
def test_consume_tells_a_missing_stream_from_a_missing_consumer(nats: Nats, missing: str, says: str) -> None:
    """The server's codes 10059 / 10014 tell them apart, and so does NoETL."""
    stream, _ = nats.stream()
    target = {"stream": "NO_STREAM", "consumer": "ghost"} if missing == "stream" else {"stream": stream, "consumer": "ghost"}
    out = nats.tool("js_consume", timeout_ms=100, **target)
    assert out.code == 2
    assert says.format(stream=stream) in out.error
    assert "stream or its durable consumer" not in out.error
