"""NATS JetStream: NoETL's drain and toolpod's, on twin servers holding the same state.

Each case creates the same stream, durable consumer and messages on both servers (and the same
preparation, e.g. a delivery left unacked so the drain sees a redelivery), drains the twin with
``noetl subscribe`` and the other with toolpod's runner, then compares the ``data`` NoETL's tool
would return with toolpod's, and the consumer's state on the server afterwards, value by value.
Every difference must be a row of departures.py that the case names.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.departures import assert_conforms, failure_documents
from tests.conformance.envelopes import noetl_js_consume_data, noetl_poll_data
from tests.conformance.oracle import Noetl, subscription_spec
from tests.fixtures import runner_cli as cli
from tests.fixtures._process import free_port, unique
from tests.fixtures.nats import HeaderLines, Headers, NatsServer

pytestmark = pytest.mark.conformance

CONSUMER = "conformance"
JSON_ORDERS = [b'{"order_id": 42, "lines": [{"sku": "a", "qty": 2}]}', b"[1, 2, 3]", b"{}"]


@dataclass(frozen=True)
class Case:
    id: str
    payloads: list[bytes]
    headers: Headers = None
    batch: int = 10
    timeout_ms: int = 1000
    redelivered: bool = False  # deliver everything once, unacked, and let the ack wait expire
    operation: str = "poll"  # or js_consume (the nats tool)
    auth_alias: bool = False
    departures: frozenset[str] = field(default_factory=frozenset)


CASES = [
    Case("json payloads", JSON_ORDERS),
    Case("text payloads", [b"plain text", b"  padded  ", b"", "ünïcödé ✓".encode()]),
    Case("scalar payloads", [b"42", b"-3.5", b"true", b"null", b'"quoted"', b"18446744073709551615"]),
    Case("binary payloads", [b"\xff\xfe\xfd", b"ok\xc3", b"\x00\x01"], departures=frozenset({"binary-base64"})),
    Case("single headers", [b"{}"], headers={"X-Kind": "order", "Trace-Id": "t-1"}),
    Case("repeated headers", [b"{}"], headers=[("X-Multi", "a"), ("X-One", "1"), ("X-Multi", "b")]),
    Case("batch caps the drain", [b'{"n": %d}' % i for i in range(15)], batch=10),
    Case("batch 0 clamps to 1", [b"1", b"2", b"3"], batch=0),
    Case("batch 5000 clamps to 1000", [b"%d" % i for i in range(1001)], batch=5000),
    Case("timeout_ms 60000 clamps to 5000", [b"1", b"2", b"3"], batch=3, timeout_ms=60000),
    Case("redelivered messages", [b'{"n": 1}', b'{"n": 2}'], redelivered=True),
    Case("empty drain", [], timeout_ms=500, departures=frozenset({"empty-drain-acked"})),
    Case("auth alias", [b'{"via": "alias"}'], auth_alias=True),
    Case("js_consume", [b'{"n": 1}', b"text"], headers=[("X-Multi", "a"), ("X-Multi", "b")], operation="js_consume"),
    Case("js_consume of binary payloads", [b"\xff\xfe"], operation="js_consume", departures=frozenset({"binary-base64"})),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_drain_gives_what_noetl_gives(
    case: Case, noetl: Noetl, nats_twin: NatsServer, nats_server: NatsServer, tmp_path: Path
) -> None:
    stream = unique("CONF").replace("-", "_")
    for server in (nats_twin, nats_server):
        server.run(lambda js, s=server: _prepare(js, s, case, stream))

    ran = noetl.drain(
        subscription_spec("nats", case.batch, case.timeout_ms, **_noetl_conn(nats_twin, case, stream)),
        credential=nats_twin.credential() if case.auth_alias else None,
        expect="messages" if case.payloads else "nothing",
        wait_s=2 * case.timeout_ms / 1000 + 1,
    )
    assert not ran.poll_errors, ran.log[-3000:]
    theirs = {"data": _noetl_data(case, stream, ran.messages), "broker": _state(nats_twin, stream)}

    out = cli.run(_toolpod_spec(nats_server, case, stream), nats_server.write_credentials(tmp_path / "creds"))
    assert out.code == 0, (out.result, out.stderr[-2000:])
    ours = {"data": out.data, "broker": _state(nats_server, stream)}

    assert_conforms(theirs, ours, case.departures)


# -- failures --------------------------------------------------------------------------------

# The consumer's message also says "stream '...'": it is looked for first.
NOETL_SAYS = {
    "missing consumer": r"consumer '([^']+)' on stream '([^']+)' not found",
    "missing stream": r"stream '([^']+)' not found",
    "connection refused": r"connect to '([^']+)' failed: .*Connection refused",
}
TOOLPOD_SAYS = {
    "missing consumer": r"durable consumer '([^']+)' does not exist on stream '([^']+)'",
    "missing stream": r"stream '([^']+)' does not exist",
    "connection refused": r"cannot connect to the NATS server at (\S+) ",
}


@pytest.mark.parametrize("failure", ["missing stream", "missing consumer", "connection refused"])
def test_a_failed_drain_names_what_noetl_names(
    failure: str, noetl: Noetl, nats_twin: NatsServer, nats_server: NatsServer, tmp_path: Path
) -> None:
    stream = unique("CONF").replace("-", "_")
    for server in (nats_twin, nats_server):
        server.run(lambda js: js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"]))
    target = {"stream": "NO_SUCH_STREAM" if failure == "missing stream" else stream, "consumer": "ghost"}
    port = free_port()  # nothing listens there: a refused connection

    def conn(server: NatsServer) -> dict[str, Any]:
        url = f"nats://127.0.0.1:{port}" if failure == "connection refused" else server.url
        return {"url": url, "user": server.user, "password": server.password, **target}

    ran = noetl.drain(subscription_spec("nats", 10, 200, **conn(nats_twin)), expect="poll errors")
    assert ran.poll_errors, ran.log[-3000:]

    out = cli.run(_spec("subscription", source="nats", timeout_ms=200, **conn(nats_server)), tmp_path)
    assert_conforms(*failure_documents(ran.poll_errors[0], NOETL_SAYS, out, TOOLPOD_SAYS), {"error-kinds"})


# -- set-up and reading back -------------------------------------------------------------------


async def _prepare(js: Any, server: NatsServer, case: Case, stream: str) -> None:
    await js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"])
    await js.add_consumer(stream, durable_name=CONSUMER, ack_policy="explicit", ack_wait=1 if case.redelivered else 30)
    headers = HeaderLines(case.headers) if isinstance(case.headers, list) else case.headers
    for payload in case.payloads:
        await js.publish(f"{stream.lower()}.orders", payload, headers=headers)
    if case.redelivered and case.payloads:
        sub = await js.pull_subscribe_bind(CONSUMER, stream)
        assert len(await sub.fetch(len(case.payloads), timeout=5)) == len(case.payloads)
        await sub.unsubscribe()
        await asyncio.sleep(1.5)  # past the ack wait: the next fetch redelivers them


async def _settled(js: Any, stream: str, within_s: float = 5.0) -> Any:
    """Consumer info once every delivered message is acked, or as it is after ``within_s``.

    Both drains flush their acks before they exit, but the server applies acks to the consumer
    asynchronously to an API request on another connection, so an info read right away can
    still count an ack as pending. An ack that never comes shows after the wait."""
    deadline = asyncio.get_running_loop().time() + within_s
    info = await js.consumer_info(stream, CONSUMER)
    while info.num_ack_pending and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        info = await js.consumer_info(stream, CONSUMER)
    return info


def _noetl_conn(server: NatsServer, case: Case, stream: str) -> dict[str, Any]:
    where = {"stream": stream, "consumer": CONSUMER}
    if case.auth_alias:
        return {"auth": "nats_main", **where}
    return {"url": server.url, "user": server.user, "password": server.password, **where}


def _noetl_data(case: Case, stream: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    if case.operation == "js_consume":
        return noetl_js_consume_data(stream, CONSUMER, messages)
    return noetl_poll_data("nats", messages)


def _toolpod_spec(server: NatsServer, case: Case, stream: str) -> dict[str, Any]:
    conn = {"auth": "nats_main"} if case.auth_alias else {"url": server.url, "user": server.user, "password": server.password}
    fields = {"stream": stream, "consumer": CONSUMER, "batch": case.batch, "timeout_ms": case.timeout_ms, **conn}
    if case.operation == "js_consume":
        return _spec("nats", operation="js_consume", **fields)
    return _spec("subscription", source="nats", **fields)


def _spec(kind: str, **tool: Any) -> dict[str, Any]:
    return {"execution_id": "conformance", "step": "drain", "tool": {"kind": kind, **tool}}


def _state(server: NatsServer, stream: str) -> dict[str, Any]:
    """The consumer as the server sees it after the drain (what was delivered and acked)."""
    info = server.run(lambda js: _settled(js, stream))
    return {
        "num_pending": info.num_pending,
        "num_ack_pending": info.num_ack_pending,
        "num_redelivered": info.num_redelivered,
        "delivered": (info.delivered.consumer_seq, info.delivered.stream_seq),
        "ack_floor": (info.ack_floor.consumer_seq, info.ack_floor.stream_seq),
    }


def test_user_and_password_in_the_url(noetl: Noetl, nats_twin: NatsServer, nats_server: NatsServer, tmp_path: Path) -> None:
    """docs/reference.md §2: user:password embedded in the URL must work; NoETL's Rust client ignores them."""
    stream = unique("CONF").replace("-", "_")
    case = Case("url userinfo", [b'{"n": 1}'])
    for server in (nats_twin, nats_server):
        server.run(lambda js, s=server: _prepare(js, s, case, stream))

    def url(server: NatsServer) -> str:
        return f"nats://{server.user}:{server.password}@127.0.0.1:{server.port}"

    ran = noetl.drain(subscription_spec("nats", 10, 500, url=url(nats_twin), stream=stream, consumer=CONSUMER), expect="poll errors")
    theirs = {"authenticated": not any("authorization violation" in e for e in ran.poll_errors)}

    out = cli.run(_spec("subscription", source="nats", url=url(nats_server), stream=stream, consumer=CONSUMER), tmp_path)
    assert (out.code, out.data.get("count")) == (0, 1), out.result
    assert nats_server.password
    assert nats_server.password not in out.stderr + str(out.result)
    ours = {"authenticated": True}

    assert_conforms(theirs, ours, {"url-userinfo"})
