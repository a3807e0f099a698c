"""Google Pub/Sub (the emulator): NoETL's drain and toolpod's, on two fresh subscriptions of one
topic, so both sides receive the very same messages (ids and publish times included).

A fresh topic and subscriptions per case: the emulator keeps a pull that a client abandoned
(NoETL's empty drain is ended by SIGTERM), so no case may reuse another's subscription. Pub/Sub
promises no order without ordering keys, so messages are compared in messageId order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conformance.departures import assert_conforms, failure_documents
from tests.conformance.envelopes import noetl_poll_data
from tests.conformance.oracle import Noetl, subscription_spec
from tests.fixtures import runner_cli as cli
from tests.fixtures._process import free_port
from tests.fixtures.pubsub import PubMessage, PubSubEmulator

pytestmark = pytest.mark.conformance

#: Departures every Pub/Sub drain that returns messages shows.
ENVELOPE = frozenset({"pubsub-metadata", "pubsub-ack-id"})


@dataclass(frozen=True)
class Case:
    id: str
    messages: list[PubMessage]
    batch: int = 10
    timeout_ms: int = 2000
    redelivered: bool = False  # pull everything once, then hand it back (ack deadline 0)
    auth_alias: bool = False  # a credential alias holding a bearer token (the emulator ignores it)
    departures: frozenset[str] = field(default_factory=frozenset)


def _plain(*payloads: bytes) -> list[PubMessage]:
    return [PubMessage(p) for p in payloads]


CASES = [
    Case("json payloads", _plain(b'{"order_id": 42, "lines": [{"sku": "a"}]}', b"[1, 2]"), departures=ENVELOPE),
    Case("text payloads", _plain(b"plain text", b"  padded  ", "ünï ✓".encode()), departures=ENVELOPE),
    Case("scalar payloads", _plain(b"42", b"-3.5", b"true", b"null", b'"quoted"'), departures=ENVELOPE),
    Case("binary payloads", _plain(b"\xff\xfe\xfd", b"ok\xc3"), departures=ENVELOPE | {"binary-base64"}),
    Case(
        "attributes, ordering key and publish times",
        [PubMessage(b'{"n": 1}', {"X-Kind": "order", "Trace-Id": "t-1"}, "customer-7"), PubMessage(b"2", {"only": "one"})],
        departures=ENVELOPE,
    ),
    Case(
        "attribute names that differ only in case",
        [PubMessage(b"{}", {"X-Kind": "order", "x-kind": "lower"})],
        departures=ENVELOPE | {"case-colliding-names"},
    ),
    Case("batch caps the drain", _plain(*[b'{"n": %d}' % i for i in range(15)]), batch=10, departures=ENVELOPE),
    Case("batch 0 clamps to 1", _plain(b"1", b"2", b"3"), batch=0, departures=ENVELOPE),
    Case(
        "more ready than one pull hands out",
        _plain(*[b"%d" % i for i in range(150)]),
        batch=1000,
        departures=ENVELOPE | {"pubsub-beyond-one-pull"},
    ),
    Case("redelivered messages", _plain(b'{"n": 1}', b'{"n": 2}'), redelivered=True, departures=ENVELOPE),
    Case("empty drain", [], timeout_ms=1000),
    Case("auth alias", _plain(b'{"via": "alias"}'), auth_alias=True, departures=ENVELOPE),
]
ALIAS, CREDENTIAL = "pubsub_main", {"token": "conformance-token"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_drain_gives_what_noetl_gives(case: Case, noetl: Noetl, pubsub_emulator: PubSubEmulator, tmp_path: Path) -> None:
    emu = pubsub_emulator
    topic = emu.create_topic("conf")
    theirs_sub, ours_sub = (emu.create_subscription(topic, "conf", ack_deadline_s=30) for _ in range(2))
    if case.messages:
        emu.publish(topic, case.messages)
    if case.redelivered:
        for sub in (theirs_sub, ours_sub):
            _hand_back(emu, sub, _pull(emu, sub, len(case.messages)))

    alias = {"auth": ALIAS} if case.auth_alias else {}
    ran = noetl.drain(
        subscription_spec("pubsub", case.batch, case.timeout_ms, subscription=theirs_sub, endpoint=emu.host, **alias),
        credential=CREDENTIAL if case.auth_alias else None,
        expect="messages" if case.messages else "nothing",
        wait_s=case.timeout_ms / 1000 + 2,
    )
    assert not ran.poll_errors, ran.log[-3000:]
    theirs = {"data": _in_id_order(noetl_poll_data("pubsub", ran.messages)), "broker": _rest(emu, theirs_sub)}

    (tmp_path / ALIAS).write_text(json.dumps(CREDENTIAL))
    out = cli.run(_spec(emu.host, ours_sub, batch=case.batch, timeout_ms=case.timeout_ms, **alias), tmp_path)
    assert out.code == 0, (out.result, out.stderr[-2000:])
    ours = {"data": _in_id_order(out.data), "broker": _rest(emu, ours_sub)}
    if case.messages and case.messages[0].ordering_key:
        assert ours["data"]["messages"][0]["metadata"]["orderingKey"] == case.messages[0].ordering_key

    assert_conforms(theirs, ours, case.departures)


# NoETL's 404 message carries only the server's text, toolpod's also the subscription: the
# server's text is what both give.
NOETL_SAYS = {
    "missing subscription": r'pull HTTP 404 [^:]*: .*"message":"([^"]+)"',
    "connection refused": r"pull failed: error sending request for url \(http://([^/]+)/",
}
TOOLPOD_SAYS = {
    "missing subscription": r"subscription '[^']+' does not exist \((.+)\)$",
    "connection refused": r"cannot reach (\S+)$",
}


@pytest.mark.parametrize("failure", ["missing subscription", "connection refused"])
def test_a_failed_drain_names_what_noetl_names(failure: str, noetl: Noetl, pubsub_emulator: PubSubEmulator, tmp_path: Path) -> None:
    missing = f"projects/{pubsub_emulator.project}/subscriptions/no-such-subscription"
    host = pubsub_emulator.host if failure == "missing subscription" else f"127.0.0.1:{free_port()}"
    sub = missing if failure == "missing subscription" else pubsub_emulator.create_subscription(pubsub_emulator.create_topic("conf"), "conf")

    ran = noetl.drain(subscription_spec("pubsub", 10, 500, subscription=sub, endpoint=host), expect="poll errors")
    assert ran.poll_errors, ran.log[-3000:]

    out = cli.run(_spec(host, sub, timeout_ms=500), tmp_path)
    assert_conforms(*failure_documents(ran.poll_errors[0], NOETL_SAYS, out, TOOLPOD_SAYS), {"error-kinds"})


# -- set-up and reading back -------------------------------------------------------------------


def _spec(endpoint: str, subscription: str, **fields: Any) -> dict[str, Any]:
    tool = {"kind": "subscription", "source": "pubsub", "subscription": subscription, "endpoint": endpoint, **fields}
    return {"execution_id": "conformance", "step": "drain", "tool": tool}


def _call(emu: PubSubEmulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"{emu.base}/{path}", json=body, timeout=30)
    r.raise_for_status()
    return dict(r.json()) if r.content else {}


def _pull(emu: PubSubEmulator, sub: str, n: int) -> list[str]:
    """Ack ids of ``n`` messages, pulled without acknowledging them."""
    ack_ids: list[str] = []
    while len(ack_ids) < n:
        got = _call(emu, f"{sub}:pull", {"maxMessages": n - len(ack_ids), "returnImmediately": True})
        ack_ids += [m["ackId"] for m in got.get("receivedMessages", [])]
    return ack_ids


def _hand_back(emu: PubSubEmulator, sub: str, ack_ids: list[str]) -> None:
    _call(emu, f"{sub}:modifyAckDeadline", {"ackIds": ack_ids, "ackDeadlineSeconds": 0})


def _rest(emu: PubSubEmulator, sub: str) -> dict[str, Any]:
    """What the drain left on the subscription: the number of messages still to deliver."""
    remaining = 0
    while got := _call(emu, f"{sub}:pull", {"maxMessages": 1000, "returnImmediately": True}).get("receivedMessages"):
        remaining += len(got)
    return {"remaining": remaining}


def _in_id_order(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "messages": sorted(data["messages"], key=lambda m: int(m["id"]))}
