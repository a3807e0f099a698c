"""The ``subscription`` tool with source ``nats``, against a real NATS server, through the CLI.

Each test reads as one rule of docs/reference.md §3 / §5; each has its own stream and durable consumer.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import runner_cli as cli
from tests.fixtures._process import free_port
from tests.fixtures.nats import Nats

pytestmark = pytest.mark.integration

#: Slack for process start-up on top of a drain's timeout (a shared 2-core machine).
SETUP_S = 3.0


def spec(stream: str, consumer: str, **fields: Any) -> dict[str, Any]:
    tool = {
        "kind": "subscription",
        "source": "nats",
        "auth": "nats_main",
        "stream": stream,
        "consumer": consumer,
        **fields,
    }
    return {"execution_id": "it-nats", "step": "drain", "tool": tool}


@pytest.fixture
def drain(nats: Nats) -> tuple[str, str, str]:
    """(stream, consumer, subject prefix); the consumer redelivers unacked messages after 2 s."""
    stream, prefix = nats.stream()
    return stream, nats.consumer(stream, ack_wait=2), prefix


def poll(nats: Nats, drain: tuple[str, str, str], **fields: Any) -> cli.Outcome:
    out = cli.run(spec(drain[0], drain[1], **fields), nats.creds)
    assert out.code == 0, (out.result, out.stderr[-2000:])
    return out


def publish_n(nats: Nats, prefix: str, n: int) -> None:
    nats.publish(f"{prefix}.o", [b'{"n": %d}' % i for i in range(n)])


def consumer_state(nats: Nats, stream: str, consumer: str) -> tuple[int, int]:
    """(messages waiting, messages delivered but not yet acked) as the server sees them."""
    info = nats.server.run(lambda js: js.consumer_info(stream, consumer))
    return info.num_pending, info.num_ack_pending


def test_noetl_scenario_publish_5_poll_acks_them_poll_again_is_empty(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    publish_n(nats, drain[2], 5)
    first = poll(nats, drain, batch=50, timeout_ms=4000, ack="on_success")
    assert (first.data["count"], first.data["acked"]) == (5, True)
    second = poll(nats, drain, batch=50, timeout_ms=1000)
    assert (second.data["count"], second.data["acked"]) == (0, False)


@pytest.mark.parametrize(
    ("ready", "batch", "timeout_ms", "counts", "max_runner_s"),
    [
        pytest.param(
            150, 100, 1000, [100, 50], 1 + SETUP_S, id="150 ready, batch 100: 100 then 50"
        ),
        pytest.param(5, 100, 4000, [5], 1.5 + SETUP_S / 2, id="5 ready: all 5 well before 4 s"),
        pytest.param(1000, 1000, 1000, [1000], 2 + SETUP_S, id="1000 ready, batch 1000: 1000"),
    ],
)
def test_drain_rules(
    nats: Nats,
    drain: tuple[str, str, str],
    ready: int,
    batch: int,
    timeout_ms: int,
    counts: list[int],
    max_runner_s: float,
) -> None:
    publish_n(nats, drain[2], ready)
    seen: list[str] = []
    for expected in counts:
        out = poll(nats, drain, batch=batch, timeout_ms=timeout_ms)
        assert out.data["count"] == expected
        assert out.runner_s < max_runner_s
        seen += out.ids()
    assert len(set(seen)) == ready, "every message exactly once across the polls"


def test_an_empty_source_returns_0_after_about_timeout_ms(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    out = poll(nats, drain, timeout_ms=1500)
    assert (out.data["count"], out.data["acked"]) == (0, False)
    assert 1.4 <= out.runner_s < 1.5 + SETUP_S


def test_a_message_arriving_during_the_wait_is_returned_without_waiting_out_the_timeout(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    proc = cli.start(spec(drain[0], drain[1], timeout_ms=5000), nats.creds, sink="stdout")
    assert proc.stderr is not None
    assert proc.stdout is not None
    while "invocation started" not in proc.stderr.readline():  # the process start is not timed
        pass
    time.sleep(1.0)  # connected, waiting
    publish_n(nats, drain[2], 1)
    assert proc.wait(timeout=30) == 0
    result = json.loads(proc.stdout.read())
    assert result["data"]["count"] == 1
    assert result["duration_ms"] < 4000, "returned when it arrived, not at timeout_ms 5000"


def test_nothing_that_was_not_returned_is_acked(nats: Nats, drain: tuple[str, str, str]) -> None:
    stream, consumer, prefix = drain
    publish_n(nats, prefix, 150)
    out = poll(nats, drain, batch=100, timeout_ms=1000)
    assert out.data["count"] == 100
    assert consumer_state(nats, stream, consumer) == (50, 0)
    rest = poll(nats, drain, batch=100, timeout_ms=1000)
    assert all(m["metadata"]["delivered"] == 1 for m in rest.data["messages"])


@pytest.mark.parametrize(
    ("ack", "ack_mode", "acked", "ack_ids", "per_message_handle"),
    [
        ("on_success", "on_success", True, False, False),
        ("AUTO", "auto", True, False, False),
        (True, "on_success", True, False, False),
        ("TRUE", "auto", True, False, False),
        ("manual", "manual", False, True, False),
        (False, "manual", False, True, False),
        ("defer", "defer", False, True, True),
        ("none", "none", False, False, False),
        ("Peek", "none", False, False, False),
    ],
)
def test_ack_modes(
    nats: Nats,
    drain: tuple[str, str, str],
    ack: Any,
    ack_mode: str,
    acked: bool,
    ack_ids: bool,
    per_message_handle: bool,
) -> None:
    """``ack_mode`` is NoETL's canonical name for the spelling, never the caller's."""
    stream, consumer, prefix = drain
    publish_n(nats, prefix, 3)
    out = poll(nats, drain, ack=ack, timeout_ms=500)
    assert out.data["count"] == 3
    assert out.data["acked"] is acked
    assert out.data["ack_mode"] == ack_mode
    assert bool(out.data["ack_ids"]) is ack_ids
    assert all(("ack_id" in m) is per_message_handle for m in out.data["messages"])
    assert consumer_state(nats, stream, consumer)[1] == (0 if acked else 3)


def test_ack_nack_and_term_dispose_handles_from_an_earlier_poll(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    publish_n(nats, drain[2], 3)
    handles = poll(nats, drain, ack="manual", timeout_ms=500).data["ack_ids"]

    acked = poll(nats, drain, operation="ack", ack_ids=handles[:1])
    assert acked.data == {
        "status": "success",
        "source": "nats",
        "operation": "ack",
        "requested": 1,
        "disposed": 1,
        "errors": [],
        "metrics": acked.data["metrics"],
    }
    poll(nats, drain, operation="term", ack_ids=handles[1:2])
    poll(nats, drain, operation="nack", ack_ids=handles[2:], nack_delay_ms=0)

    again = poll(nats, drain, timeout_ms=1500)
    assert [m["data"] for m in again.data["messages"]] == [{"n": 2}], "only the nacked one returns"
    assert again.data["messages"][0]["metadata"]["delivered"] == 2


def test_a_handle_that_is_not_a_jetstream_ack_subject_is_reported_not_sent(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    out = poll(nats, drain, operation="ack", ack_ids=["orders.created"])
    assert (out.data["status"], out.data["disposed"]) == ("partial", 0)
    assert "not a JetStream ack handle" in out.data["errors"][0]


def test_headers_are_normalised_and_payloads_decoded(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    prefix = drain[2]
    nats.publish(f"{prefix}.a", [b'{"json": true}'], headers={"X-Kind": "order", "TRACE": "t1"})
    nats.publish(f"{prefix}.b", [b"plain text"])
    nats.publish(f"{prefix}.c", [b"\xff\xfe"])
    msgs = poll(nats, drain, timeout_ms=500).data["messages"]
    assert msgs[0]["headers"] == {"x-kind": "order", "trace": "t1"}
    assert msgs[0]["attributes"] == {"X-Kind": "order", "TRACE": "t1"}
    assert [m["data"] for m in msgs] == [{"json": True}, "plain text", "//4="]
    assert "encoding" not in msgs[0]
    assert msgs[2]["encoding"] == "base64"


def test_a_repeated_header_keeps_every_value_in_order(
    nats: Nats, drain: tuple[str, str, str]
) -> None:
    """docs/reference.md §3: several values → a list, in ``headers`` and (names as sent) in ``attributes``."""
    pairs = [("X-Multi", "a"), ("X-One", "1"), ("X-Multi", "b"), ("x-multi", "c")]
    nats.publish(f"{drain[2]}.m", [b"{}"], headers=pairs)
    (msg,) = poll(nats, drain, timeout_ms=500).data["messages"]
    assert msg["headers"] == {"x-multi": ["a", "b", "c"], "x-one": "1"}
    assert msg["attributes"] == {"X-Multi": ["a", "b"], "X-One": "1", "x-multi": "c"}


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("stream", "stream 'NO_STREAM' does not exist"),
        ("consumer", "durable consumer 'ghost' does not exist on stream '{stream}'"),
    ],
)
def test_a_missing_stream_and_a_missing_consumer_get_distinct_messages(
    nats: Nats, missing: str, says: str
) -> None:
    """The server's codes 10059 / 10014 tell them apart, and so does NoETL."""
    stream, _ = nats.stream()
    target = ("NO_STREAM", "ghost") if missing == "stream" else (stream, "ghost")
    out = cli.run(spec(*target, timeout_ms=100), nats.creds)
    assert (out.code, out.result["error"]["kind"]) == (2, "execution")
    assert says.format(stream=stream) in out.error


@pytest.mark.parametrize("missing", ["stream", "consumer"])
def test_a_missing_required_field_exits_2_naming_it(nats: Nats, missing: str) -> None:
    tool = spec("S", "c")["tool"]
    del tool[missing]
    out = cli.run({"tool": tool}, nats.creds)
    assert out.code == 2
    assert f"tool.{missing}: required field is missing" in out.error


def test_a_consumer_that_does_not_exist_exits_2(nats: Nats, drain: tuple[str, str, str]) -> None:
    out = cli.run(spec(drain[0], "no-such-consumer"), nats.creds)
    assert out.code == 2
    assert f"stream '{drain[0]}' consumer 'no-such-consumer'" in out.error


def test_an_unreachable_server_exits_3_within_timeout_plus_a_bound(tmp_path: Path) -> None:
    t = spec("S", "c", timeout_ms=1000)["tool"] | {
        "auth": None,
        "url": f"nats://127.0.0.1:{free_port()}",
    }
    out = cli.run({"tool": {k: v for k, v in t.items() if v is not None}}, tmp_path)
    assert out.code == 3
    assert out.runner_s < 1 + 8


# -- docs/reference.md §5: ack only after the result is safe ---------------------------------------------------


def test_a_runner_killed_after_writing_and_before_acking_loses_nothing(
    nats: Nats, drain: tuple[str, str, str], tmp_path: Path
) -> None:
    stream, consumer, prefix = drain
    publish_n(nats, prefix, 5)
    result = tmp_path / "result.json"
    proc = cli.start_paused_before_ack(
        spec(stream, consumer, timeout_ms=1000), nats.creds, result, 30
    )
    written = cli.wait_for_file(result)
    assert (written["data"]["count"], written["data"]["acked"]) == (5, False)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    again = poll(nats, drain, batch=50, timeout_ms=4000)  # after ack_wait (2 s) they return
    assert sorted(again.ids(), key=int) == ["1", "2", "3", "4", "5"]
    assert all(m["metadata"]["delivered"] == 2 for m in again.data["messages"])


def test_the_final_result_records_that_the_ack_happened(
    nats: Nats, drain: tuple[str, str, str], tmp_path: Path
) -> None:
    publish_n(nats, drain[2], 2)
    result = tmp_path / "result.json"
    out = cli.run(spec(drain[0], drain[1], timeout_ms=500), nats.creds, sink=f"file:{result}")
    assert out.code == 0
    assert cli.wait_for_file(result)["data"]["acked"] is True


def test_a_failed_result_write_leaves_the_messages_unacked_and_releases_them(
    nats: Nats, drain: tuple[str, str, str], tmp_path: Path
) -> None:
    stream, consumer, prefix = drain
    publish_n(nats, prefix, 3)
    out = cli.run(spec(stream, consumer, timeout_ms=500), nats.creds, sink=cli.UNWRITABLE_SINK)
    assert out.code == 4
    again = poll(nats, drain, batch=50, timeout_ms=1000)
    assert again.data["count"] == 3
    assert again.runner_s < 1 + SETUP_S, "released at once (-NAK), not after ack_wait"


def test_sigterm_between_write_and_ack_releases_the_batch_at_once(
    nats: Nats, tmp_path: Path
) -> None:
    """Cancel and eviction send SIGTERM: the runner hands the batch back instead of leaving it
    to the consumer's ack wait (30 s here), and exits 143."""
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream, ack_wait=30)
    publish_n(nats, prefix, 3)
    result = tmp_path / "result.json"
    proc = cli.start_paused_before_ack(
        spec(stream, consumer, timeout_ms=1000), nats.creds, result, 30
    )
    cli.wait_for_file(result)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 143
    again = poll(nats, (stream, consumer, prefix), batch=50, timeout_ms=4000)
    assert again.data["count"] == 3
    assert again.runner_s < 4 + SETUP_S
