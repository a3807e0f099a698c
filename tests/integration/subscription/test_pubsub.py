"""The ``subscription`` tool with source ``pubsub``, against the real emulator, through the CLI.

Each test reads as one rule of docs/reference.md §3 / §5; every test has its own topic and subscription.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import runner_cli as cli
from tests.fixtures.pubsub import PubMessage, PubSubEmulator

pytestmark = pytest.mark.integration

#: Slack for process start-up and set-up on top of a drain's timeout (a shared 2-core machine).
SETUP_S = 3.0


@pytest.fixture
def sub(pubsub_emulator: PubSubEmulator) -> tuple[str, str]:
    """(topic, subscription) used by one test only."""
    return pubsub_emulator.topic_and_subscription(ack_deadline_s=10)


def spec(emu: PubSubEmulator, subscription: str, **fields: Any) -> dict[str, Any]:
    tool = {
        "kind": "subscription",
        "source": "pubsub",
        "subscription": subscription,
        "endpoint": emu.host,
        **fields,
    }
    return {"execution_id": "it-pubsub", "step": "drain", "tool": tool}


def poll(emu: PubSubEmulator, subscription: str, creds: Path, **fields: Any) -> cli.Outcome:
    out = cli.run(spec(emu, subscription, **fields), creds)
    assert out.code == 0, (out.result, out.stderr[-2000:])
    return out


# -- drain rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "batch", "timeout_ms", "counts", "max_runner_s"),
    [
        pytest.param(
            150, 100, 1000, [100, 50], 1 + SETUP_S, id="150 ready, batch 100: 100 then 50"
        ),
        pytest.param(5, 100, 4000, [5], 1.5 + SETUP_S / 2, id="5 ready: all 5 well before 4 s"),
        pytest.param(0, 100, 1500, [0], 1.5 + SETUP_S, id="empty: 0 after about timeout_ms"),
        pytest.param(5, 100, 0, [5], SETUP_S, id="timeout_ms 0: what is ready"),
        pytest.param(1000, 1000, 1000, [1000], 2 + SETUP_S, id="1000 ready, batch 1000: 1000"),
    ],
)
def test_drain_rules(
    pubsub_emulator: PubSubEmulator,
    sub: tuple[str, str],
    creds: Path,
    ready: int,
    batch: int,
    timeout_ms: int,
    counts: list[int],
    max_runner_s: float,
) -> None:
    topic, subscription = sub
    pubsub_emulator.publish_n(topic, ready)
    seen: list[str] = []
    for expected in counts:
        out = poll(pubsub_emulator, subscription, creds, batch=batch, timeout_ms=timeout_ms)
        assert out.data["count"] == expected
        assert out.runner_s < max_runner_s
        if expected == 0:
            assert out.runner_s >= timeout_ms / 1000, "an empty drain waits out timeout_ms"
        seen += out.ids()
    assert len(set(seen)) == ready, "nothing returned twice, nothing lost"


def test_noetl_kind_validation_scenario(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path
) -> None:
    """publish 5 → poll batch 50, timeout 4000, on_success → 5 acked → poll again → 0."""
    topic, subscription = sub
    pubsub_emulator.publish_n(topic, 5)
    first = poll(pubsub_emulator, subscription, creds, batch=50, timeout_ms=4000, ack="on_success")
    assert (first.data["count"], first.data["acked"]) == (5, True)
    again = poll(pubsub_emulator, subscription, creds, batch=50, timeout_ms=4000, ack="on_success")
    assert (again.data["count"], again.data["acked"]) == (0, False)


def test_only_what_was_returned_is_acked(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path
) -> None:
    topic, subscription = sub
    pubsub_emulator.publish_n(topic, 30)
    first = poll(pubsub_emulator, subscription, creds, batch=10, timeout_ms=1000)
    # release everything still outstanding elsewhere? nothing is: the other 20 were never pulled
    rest = poll(pubsub_emulator, subscription, creds, batch=100, timeout_ms=1000)
    assert first.data["count"] == 10
    assert rest.data["count"] == 20
    assert not set(first.ids()) & set(rest.ids())


# -- ack modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ack", "acked", "handles", "per_message"),
    [
        ("on_success", True, False, False),
        ("auto", True, False, False),
        (True, True, False, False),
        ("manual", False, True, False),
        (False, False, True, False),
        ("DEFER", False, True, True),
        ("none", False, False, False),
        ("peek", False, False, False),
    ],
)
def test_ack_modes(
    pubsub_emulator: PubSubEmulator,
    sub: tuple[str, str],
    creds: Path,
    ack: Any,
    acked: bool,
    handles: bool,
    per_message: bool,
) -> None:
    topic, subscription = sub
    pubsub_emulator.publish_n(topic, 3)
    out = poll(pubsub_emulator, subscription, creds, batch=10, timeout_ms=2000, ack=ack)
    assert out.data["count"] == 3
    assert out.data["acked"] is acked
    assert len(out.data["ack_ids"]) == (3 if handles else 0)
    assert all(("ack_id" in m) is per_message for m in out.data["messages"])
    if not acked:  # released by nobody: a nack with delay 0 must find them outstanding
        ids = out.data["ack_ids"] or []
        if ids:
            nack = poll(pubsub_emulator, subscription, creds, operation="nack", ack_ids=ids)
            assert (nack.data["status"], nack.data["disposed"]) == ("success", 3)
            assert poll(pubsub_emulator, subscription, creds, timeout_ms=3000).data["count"] == 3


@pytest.mark.parametrize(
    ("operation", "redelivered"),
    [("ack", 0), ("term", 0), ("nack", 3)],
)
def test_dispose_operations(
    pubsub_emulator: PubSubEmulator,
    sub: tuple[str, str],
    creds: Path,
    operation: str,
    redelivered: int,
) -> None:
    """ack/term end redelivery; nack (delay 0) redelivers at once."""
    topic, subscription = sub
    pubsub_emulator.publish_n(topic, 3)
    ids = poll(pubsub_emulator, subscription, creds, timeout_ms=2000, ack="manual").data["ack_ids"]
    out = poll(pubsub_emulator, subscription, creds, operation=operation, ack_ids=ids)
    assert {k: out.data[k] for k in ("status", "source", "operation", "requested", "disposed")} == {
        "status": "success",
        "source": "pubsub",
        "operation": operation,
        "requested": 3,
        "disposed": 3,
    }
    again = poll(pubsub_emulator, subscription, creds, timeout_ms=1000, ack="none")
    assert again.data["count"] == redelivered


def test_dispose_reports_bad_handles_as_partial(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path
) -> None:
    topic, subscription = sub
    pubsub_emulator.publish_n(topic, 2)
    ids = poll(pubsub_emulator, subscription, creds, timeout_ms=2000, ack="manual").data["ack_ids"]
    out = poll(pubsub_emulator, subscription, creds, operation="ack", ack_ids=[*ids, "bogus"])
    assert (out.data["status"], out.data["requested"], out.data["disposed"]) == ("partial", 3, 2)
    assert len(out.data["errors"]) == 1
    assert "bogus" in out.data["errors"][0]


# -- envelope: headers and payloads ---------------------------------------------------------------


def test_headers_are_normalised_and_attributes_raw(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path
) -> None:
    topic, subscription = sub
    attrs = {"X-Kind": "order", "x-kind": "refund", "Trace-Id": "t1"}
    pubsub_emulator.publish(topic, [PubMessage(b"{}", attrs, ordering_key="")])
    (msg,) = poll(pubsub_emulator, subscription, creds, timeout_ms=2000).data["messages"]
    assert msg["attributes"] == attrs
    assert msg["headers"]["trace-id"] == "t1"
    assert sorted(msg["headers"]["x-kind"]) == ["order", "refund"]
    assert set(msg["metadata"]) == {"messageId", "publishTime", "deliveryAttempt", "orderingKey"}
    assert msg["id"] == msg["metadata"]["messageId"]


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
    pubsub_emulator: PubSubEmulator,
    sub: tuple[str, str],
    creds: Path,
    raw: bytes,
    data: Any,
    encoding: str | None,
) -> None:
    topic, subscription = sub
    pubsub_emulator.publish(topic, [PubMessage(raw, {"k": "v"})])  # empty data needs attributes
    (msg,) = poll(pubsub_emulator, subscription, creds, timeout_ms=2000).data["messages"]
    assert msg["data"] == data
    assert msg.get("encoding") == encoding


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["subscription"])
def test_missing_required_field_is_exit_2_naming_it(
    pubsub_emulator: PubSubEmulator, creds: Path, missing: str
) -> None:
    s = spec(pubsub_emulator, "projects/p/subscriptions/s")
    del s["tool"][missing]
    out = cli.run(s, creds)
    assert out.code == 2
    assert missing in out.error


def test_subscription_that_does_not_exist_is_exit_2(
    pubsub_emulator: PubSubEmulator, creds: Path
) -> None:
    name = f"projects/{pubsub_emulator.project}/subscriptions/no-such-sub"
    out = cli.run(spec(pubsub_emulator, name, timeout_ms=1000), creds)
    assert out.code == 2
    assert "no-such-sub" in out.error
    assert "does not exist" in out.error


def test_unreachable_endpoint_is_exit_3_within_timeout_plus_a_bound(creds: Path) -> None:
    from tests.fixtures._process import free_port

    s = {
        "kind": "subscription",
        "source": "pubsub",
        "endpoint": f"127.0.0.1:{free_port()}",
        "subscription": "projects/p1234/subscriptions/s",
        "timeout_ms": 1000,
    }
    out = cli.run(s, creds)
    assert out.code == 3
    assert out.result["error"]["retriable"] is True
    assert out.runner_s < 1 + 5 + SETUP_S


# -- at-least-once (docs/reference.md §5) ----------------------------------------------------------------------


def _redelivered(emu: PubSubEmulator, subscription: str, creds: Path, want: set[str]) -> set[str]:
    """Poll until every id in ``want`` came back, for up to 90 s. The ack deadline is 10 s, but
    the emulator hands expired messages out again only on its own sweep: 20-45 s observed."""
    seen: set[str] = set()
    deadline = time.monotonic() + 90
    while not want <= seen and time.monotonic() < deadline:
        seen |= set(poll(emu, subscription, creds, timeout_ms=5000, batch=100).ids())
    return seen


def test_killed_before_ack_every_message_is_delivered_again(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path, tmp_path: Path
) -> None:
    topic, subscription = sub
    published = set(pubsub_emulator.publish_n(topic, 4))
    result_file = tmp_path / "result.json"
    proc = cli.start_paused_before_ack(
        spec(pubsub_emulator, subscription, timeout_ms=2000), creds, result_file, 60
    )
    try:
        written = cli.wait_for_file(result_file)
        assert written["data"]["count"] == 4
        assert written["data"]["acked"] is False, "the first write happens before the ack"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert _redelivered(pubsub_emulator, subscription, creds, published) >= published


def test_failed_result_write_leaves_messages_unacked(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path, tmp_path: Path
) -> None:
    topic, subscription = sub
    published = set(pubsub_emulator.publish_n(topic, 4))
    out = cli.run(
        spec(pubsub_emulator, subscription, timeout_ms=2000),
        creds,
        sink=cli.UNWRITABLE_SINK,
    )
    assert out.code == 4
    # released with deadline 0: back at once, not after the 10 s ack deadline
    again = poll(pubsub_emulator, subscription, creds, timeout_ms=3000)
    assert set(again.ids()) == published


@pytest.mark.parametrize("k", [1, 5])
def test_a_drain_after_an_empty_one_returns_the_k_ready_at_once(
    pubsub_emulator: PubSubEmulator, sub: tuple[str, str], creds: Path, k: int
) -> None:
    """Rule 3 right after an empty drain: the empty drain's blocking pull, given up at its
    timeout, must not capture what is published next (it used to, until the ack deadline)."""
    topic, subscription = sub
    empty = poll(pubsub_emulator, subscription, creds, timeout_ms=1000)
    assert empty.data["count"] == 0
    published = set(pubsub_emulator.publish_n(topic, k))
    again = poll(pubsub_emulator, subscription, creds, timeout_ms=5000)
    assert set(again.ids()) == published
    assert again.runner_s < 5, "the k ready came back without waiting out the timeout"
