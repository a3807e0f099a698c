"""docs/reference.md §2 Object Store rows against a real NATS server, through the runner CLI."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.fixtures.nats import Nats

pytestmark = pytest.mark.integration


def test_a_5mb_binary_object_round_trips_byte_exact_with_base64(nats: Nats) -> None:
    b = nats.object_bucket()
    blob = os.urandom(5 * 1024 * 1024)
    put = nats.tool("object_put", bucket=b, name="blob.bin", encoding="base64",
                    data=base64.b64encode(blob).decode(), description="random bytes")
    assert put.code == 0, put.error
    assert put.data["size"] == len(blob)
    assert put.data["digest"] == "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).decode()

    got = nats.tool("object_get", bucket=b, name="blob.bin", encoding="base64")
    assert got.code == 0, got.error
    assert got.data["encoding"] == "base64"
    assert got.data["size"] == len(blob)
    assert base64.b64decode(got.data["data"]) == blob


def test_text_and_json_objects_read_back_decoded(nats: Nats) -> None:
    b = nats.object_bucket()
    nats.tool("object_put", bucket=b, name="doc.json", data={"k": [1, 2]})
    nats.tool("object_put", bucket=b, name="note.txt", data="hello")
    assert nats.tool("object_get", bucket=b, name="doc.json").data["data"] == {"k": [1, 2]}
    assert nats.tool("object_get", bucket=b, name="note.txt").data["data"] == "hello"


def test_info_list_and_delete(nats: Nats) -> None:
    b = nats.object_bucket()
    nats.tool("object_put", bucket=b, name="a", data="x" * 10, description="first")
    nats.tool("object_put", bucket=b, name="b", data="y")

    info = nats.tool("object_info", bucket=b, name="a")
    assert info.code == 0
    assert {k: info.data[k] for k in ("status", "bucket", "name", "size", "description", "chunks")} == {
        "status": "success", "bucket": b, "name": "a", "size": 10, "description": "first", "chunks": 1}
    assert info.data["digest"].startswith("SHA-256=")
    assert info.data["mtime"]

    listed = nats.tool("object_list", bucket=b)
    assert listed.data["count"] == 2
    assert [o["name"] for o in listed.data["objects"]] == ["a", "b"]
    assert set(listed.data["objects"][0]) == {"name", "size", "description", "chunks", "mtime", "digest"}

    deleted = nats.tool("object_delete", bucket=b, name="a")
    assert deleted.data == {"status": "success", "bucket": b, "name": "a"}
    assert [o["name"] for o in nats.tool("object_list", bucket=b).data["objects"]] == ["b"]


def test_an_empty_bucket_lists_nothing(nats: Nats) -> None:
    listed = nats.tool("object_list", bucket=nats.object_bucket())
    assert (listed.code, listed.data["count"], listed.data["objects"]) == (0, 0, [])


@pytest.mark.parametrize("operation", ["object_get", "object_info", "object_delete"])
def test_a_missing_object_is_an_error_naming_it(nats: Nats, operation: str) -> None:
    out = nats.tool(operation, bucket=nats.object_bucket(), name="ghost")
    assert out.code == 2
    assert "object 'ghost' does not exist" in out.error


@pytest.mark.parametrize("operation", ["object_get", "object_put", "object_list", "object_info"])
def test_a_missing_bucket_is_an_error_naming_it(nats: Nats, operation: str) -> None:
    out = nats.tool(operation, bucket="no_bucket", name="n", data="x")
    assert out.code == 2
    assert "object store bucket 'no_bucket' does not exist" in out.error


def test_an_interrupted_object_put_leaves_no_orphan_chunks(nats: Nats) -> None:
    """A put cancelled while it sends chunks (SIGTERM, deadline_s) leaves the bucket's stream
    as it was: no chunk without an object (nats-py purges them on errors, not on cancel)."""
    import asyncio

    from runner.spec.invocation import parse_invocation
    from runner.tools.nats_object import object_put

    bucket = nats.object_bucket()
    tool = parse_invocation({"kind": "nats", "operation": "object_put", "bucket": bucket,
                             "name": "big", "data": "x" * (32 * 1024 * 1024)}).tool

    async def interrupt(js: object) -> int:
        stream = f"OBJ_{bucket}"
        put = asyncio.create_task(object_put(js, tool, print))  # type: ignore[arg-type]
        while (await js.stream_info(stream)).state.messages == 0:  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)
        # Cancel until it takes: Python 3.11's wait_for drops a cancel that meets a reply
        # completing at that instant (nats-py awaits each chunk's ack through it).
        while not put.done():
            put.cancel()
            await asyncio.sleep(0.01)
        with pytest.raises(asyncio.CancelledError):
            await put
        return int((await js.stream_info(stream)).state.messages)  # type: ignore[attr-defined]

    assert nats.server.run(interrupt) == 0
    assert nats.tool("object_info", bucket=bucket, name="big").code == 2


def test_a_put_killed_mid_way_leaves_chunks_the_next_put_sweeps_once_they_are_old(
    nats: Nats, tmp_path: object
) -> None:
    """SIGKILL cannot clean up in-process: the next completed put of the bucket purges chunk
    subjects no object names once they are older than the safe age (runner/tools/nats_orphans.py),
    never younger ones — a put in progress looks just like that."""
    import signal
    import time

    from runner.tools.nats_orphans import ORPHAN_AGE_ENV
    from tests.fixtures import runner_cli as cli

    bucket = nats.object_bucket()
    stream = f"OBJ_{bucket}"

    def messages() -> int:
        return int(nats.server.run(lambda js: js.stream_info(stream)).state.messages)

    def put(name: str, **env: str) -> cli.Outcome:
        spec = {"kind": "nats", "operation": "object_put", "auth": "nats_main", "bucket": bucket,
                "name": name, "data": "small"}
        return cli.run({"tool": spec}, nats.creds, env=env)

    big = {"kind": "nats", "operation": "object_put", "auth": "nats_main", "bucket": bucket,
           "name": "big", "data": "x" * (32 * 1024 * 1024)}
    proc = cli.start({"tool": big}, nats.creds, sink="stdout")
    deadline = time.monotonic() + 60
    while messages() == 0:
        assert time.monotonic() < deadline, "the put never sent a chunk"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    orphans = messages()
    assert orphans > 0, "the killed put left chunks behind"
    assert nats.tool("object_info", bucket=bucket, name="big").code == 2

    fresh = put("a")  # the orphans are seconds old: a live put looks the same, so they stay
    assert fresh.code == 0, fresh.error
    assert messages() == orphans + 2  # the new object's one chunk and its meta
    assert not fresh.result["warnings"]

    time.sleep(2)
    swept = put("b", **{ORPHAN_AGE_ENV: "1"})
    assert swept.code == 0, swept.error
    assert any("interrupted put" in w for w in swept.result["warnings"]), swept.result
    assert messages() == 4, "only the two objects' chunks and metas are left"
    assert nats.tool("object_get", bucket=bucket, name="a").data["data"] == "small"
