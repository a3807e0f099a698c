"""docs/reference.md §2 Key-Value rows against a real NATS server, through the runner CLI."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.nats import Nats

pytestmark = pytest.mark.integration


def test_put_get_keys_delete_then_get_is_not_found(nats: Nats) -> None:
    b = nats.kv_bucket()
    put = nats.tool("kv_put", bucket=b, key="orders.k1", value={"order_id": 42})
    assert put.code == 0, put.error
    assert put.data == {"status": "success", "bucket": b, "key": "orders.k1", "revision": 1}

    got = nats.tool("kv_get", bucket=b, key="orders.k1")
    assert got.code == 0
    assert got.data["value"] == {"order_id": 42}
    assert got.data["revision"] == 1
    assert got.data["created"].endswith("Z")

    keys = nats.tool("kv_keys", bucket=b)
    assert keys.data == {"status": "success", "bucket": b, "keys": ["orders.k1"], "count": 1}

    deleted = nats.tool("kv_delete", bucket=b, key="orders.k1")
    assert deleted.code == 0
    assert deleted.data == {"status": "success", "bucket": b, "key": "orders.k1"}

    gone = nats.tool("kv_get", bucket=b, key="orders.k1")
    assert gone.code == 0
    assert gone.data["status"] == "not_found"
    assert nats.tool("kv_keys", bucket=b).data["count"] == 0


def test_a_key_that_never_existed_is_not_found_not_an_error(nats: Nats) -> None:
    got = nats.tool("kv_get", bucket=nats.kv_bucket(), key="never")
    assert (got.code, got.result["status"], got.data["status"]) == (0, "success", "not_found")


def test_a_purged_key_is_not_found(nats: Nats) -> None:
    b = nats.kv_bucket(history=5)
    for v in ("one", "two"):
        nats.tool("kv_put", bucket=b, key="k", value=v)
    purged = nats.tool("kv_purge", bucket=b, key="k")
    assert purged.data == {"status": "success", "bucket": b, "key": "k"}
    assert nats.tool("kv_get", bucket=b, key="k").data["status"] == "not_found"


@pytest.mark.parametrize(
    ("value", "read_back"),
    [("plain text", "plain text"), ({"a": [1, 2]}, {"a": [1, 2]}), (7, 7), ("{\"x\": 1}", {"x": 1})],
)
def test_values_round_trip_as_the_spec_encodes_them(nats: Nats, value: object, read_back: object) -> None:
    b = nats.kv_bucket()
    nats.tool("kv_put", bucket=b, key="k", value=value)
    assert nats.tool("kv_get", bucket=b, key="k").data["value"] == read_back


def test_a_value_that_is_not_utf8_comes_back_base64_never_empty(nats: Nats) -> None:
    b = nats.kv_bucket()

    async def put_binary(js: object) -> None:
        kv = await js.key_value(b)  # type: ignore[attr-defined]
        await kv.put("bin", b"\xff\x00\xfe")

    nats.server.run(put_binary)
    got = nats.tool("kv_get", bucket=b, key="bin")
    assert (got.data["value"], got.data["encoding"]) == ("/wD+", "base64")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ["a.1", "a.2.x", "b.1", "top"]),
        ("*", ["a.1", "a.2.x", "b.1", "top"]),
        ("a.*", ["a.1", "a.2.x"]),
        ("*.1", ["a.1", "b.1"]),
        ("a.?", ["a.1"]),
        ("top", ["top"]),
        ("nothing.*", []),
    ],
)
def test_kv_keys_globs_cross_dots(nats: Nats, pattern: str | None, expected: list[str]) -> None:
    b = nats.kv_bucket()
    for key in ("a.1", "a.2.x", "b.1", "top"):
        nats.tool("kv_put", bucket=b, key=key, value=key)
    fields = {"pattern": pattern} if pattern else {}
    keys = nats.tool("kv_keys", bucket=b, **fields)
    assert keys.data["keys"] == expected
    assert keys.data["count"] == len(expected)


def test_ttl_is_honoured_where_the_bucket_allows_per_message_ttl(nats: Nats) -> None:
    b = nats.kv_bucket()

    async def allow_ttl(js: object) -> None:
        info = await js.stream_info(f"KV_{b}")  # type: ignore[attr-defined]
        info.config.allow_msg_ttl = True
        await js.update_stream(info.config)  # type: ignore[attr-defined]

    nats.server.run(allow_ttl)
    put = nats.tool("kv_put", bucket=b, key="k", value="v", ttl=1)
    assert put.code == 0, put.error
    assert put.result["warnings"] == []
    msg = nats.server.run(lambda js: js.get_msg(f"KV_{b}", seq=put.data["revision"]))
    assert msg.headers["Nats-TTL"] in ("1", "1s")


def test_ttl_is_reported_as_ignored_where_the_bucket_expires_per_bucket(nats: Nats) -> None:
    # A bucket as older clients and servers make it: the stream does not allow per-message TTL.
    b = "legacy_" + nats.kv_bucket()

    async def legacy_bucket(js: object) -> None:
        await js.add_stream(  # type: ignore[attr-defined]
            name=f"KV_{b}", subjects=[f"$KV.{b}.>"], max_msgs_per_subject=1,
            allow_rollup_hdrs=True, deny_delete=True, allow_direct=True, allow_msg_ttl=False,
        )

    nats.server.run(legacy_bucket)
    put = nats.tool("kv_put", bucket=b, key="k", value="v", ttl=30)
    assert put.code == 0
    assert any("ttl 30.0s ignored" in w for w in put.result["warnings"])
    assert nats.tool("kv_get", bucket=b, key="k").data["value"] == "v"


@pytest.mark.parametrize("operation", ["kv_get", "kv_put", "kv_delete", "kv_purge", "kv_keys"])
def test_a_missing_bucket_is_an_error_naming_it(nats: Nats, operation: str) -> None:
    out = nats.tool(operation, bucket="no_such_bucket", key="k", value=1)
    assert out.code == 2
    assert out.result["error"]["kind"] == "execution"
    assert "KV bucket 'no_such_bucket' does not exist" in out.error
    assert operation in out.error


def test_kv_keys_lists_every_live_key_across_fetches_and_leaves_no_consumer(nats: Nats) -> None:
    """2,500 keys (more than one fetch of 1,000), one with many revisions (listed once), some
    deleted or purged (not listed): the listing is exact, and its consumer is gone afterwards."""
    b = nats.kv_bucket()
    live = [f"k.{i:04d}" for i in range(2500)]

    async def fill(js: Any) -> None:
        kv = await js.key_value(b)
        for key in live:
            await kv.put(key, b"v")
        for revision in range(20):
            await kv.put("k.0000", str(revision).encode())
        for key in ("gone.deleted", "gone.purged"):
            await kv.put(key, b"v")
        await kv.delete("gone.deleted")
        await kv.purge("gone.purged")

    nats.server.run(fill)
    keys = nats.tool("kv_keys", bucket=b)
    assert keys.code == 0, keys.error
    assert (keys.data["count"], keys.data["keys"]) == (2500, live)

    async def consumers(js: Any) -> int:
        return (await js.stream_info(f"KV_{b}")).state.consumer_count  # type: ignore[no-any-return]

    assert nats.server.run(consumers) == 0
