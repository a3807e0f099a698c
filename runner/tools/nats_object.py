"""NATS Object Store operations (docs/reference.md §2): object_get/put/delete/list/info."""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

from runner import termination
from runner.codec import payload_fields
from runner.errors import NotFoundError
from runner.spec import nats as spec
from runner.tools import Data, Registry, Warn
from runner.tools.nats_orphans import sweep

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import ObjectInfo
    from nats.js.object_store import ObjectStore

#: How long cleaning up after an interrupted put may take.
_PURGE_S = 5.0


async def _store(js: JetStreamContext, bucket: str, what: str) -> ObjectStore:
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.object_store(bucket)
    except BucketNotFoundError:
        raise NotFoundError(f"{what}: object store bucket '{bucket}' does not exist") from None


def _what(tool: spec.NatsFields) -> str:
    name = f" object '{tool.name}'" if tool.name else ""
    return f"{tool.operation} bucket '{tool.bucket}'{name}"


def _missing(what: str, name: str) -> NotFoundError:
    return NotFoundError(f"{what}: object '{name}' does not exist")


def info_fields(info: ObjectInfo) -> Data:
    return {
        "name": info.name,
        "size": info.size or 0,
        "description": info.description,
        "chunks": info.chunks or 0,
        "mtime": info.mtime,
        "digest": info.digest,
    }


async def object_get(js: JetStreamContext, tool: spec.ObjectGet, warn: Warn) -> Data:
    from nats.js.errors import ObjectDeletedError, ObjectNotFoundError

    what = _what(tool)
    store = await _store(js, tool.bucket, what)
    try:
        result = await store.get(tool.name)
    except (ObjectNotFoundError, ObjectDeletedError):
        raise _missing(what, tool.name) from None
    raw = result.data or b""
    if tool.encoding == "base64":
        body: Data = {"data": base64.b64encode(raw).decode("ascii"), "encoding": "base64"}
    else:
        body = payload_fields(raw)
    return {"status": "success", "bucket": tool.bucket, "name": tool.name, **body, "size": len(raw)}


async def object_put(js: JetStreamContext, tool: spec.ObjectPut, warn: Warn) -> Data:
    from nats.js.api import ObjectMeta

    store = await _store(js, tool.bucket, _what(tool))
    meta = ObjectMeta(name=tool.name, description=tool.description)
    nuids = _RecordedNuids(js)
    try:
        with termination.acknowledging():  # the purge below must not be cut
            info = await store.put(tool.name, tool.payload(), meta=meta)
    except BaseException:
        # nats-py purges the new chunks on an error while sending them, but not when the put
        # is cancelled (SIGTERM, deadline_s) or its meta write fails: without this they stay
        # in the bucket's stream, referenced by no object. (Restored first: the purge's own
        # requests draw ids too, and must not add to the list it walks.)
        nuids.restore()
        await asyncio.shield(_purge_orphans(store, tool.name, list(nuids.issued)))
        raise
    finally:
        nuids.restore()
    if swept := await sweep(store):  # what puts killed mid-way left (nats_orphans)
        warn(f"removed the chunks of {swept} interrupted put(s) that no object names")
    return {
        "status": "success",
        "bucket": tool.bucket,
        "name": tool.name,
        "size": info.size or 0,
        "digest": info.digest,
    }


class _RecordedNuids:
    """Records the ids the connection issues during a put: one names the new chunks' subject
    (``$O.<bucket>.C.<nuid>``), which nats-py does not expose."""

    def __init__(self, js: JetStreamContext) -> None:
        nc: Any = js._nc  # the only way to learn the chunks' subject
        self._nc, self._inner = nc, nc._nuid
        self.issued: list[str] = []
        nc._nuid = self

    def next(self) -> bytearray:
        nuid: bytearray = self._inner.next()
        self.issued.append(bytes(nuid).decode())
        return nuid

    def restore(self) -> None:
        self._nc._nuid = self._inner


async def _purge_orphans(store: ObjectStore, name: str, nuids: list[str]) -> None:
    """Purge the chunks of a put that did not complete (never those its meta points to)."""
    try:
        async with asyncio.timeout(_PURGE_S):
            current = await _current_nuid(store, name)
            for nuid in nuids:
                if nuid != current:
                    subject = f"$O.{store._name}.C.{nuid}"
                    await store._js.purge_stream(store._stream, subject=subject)
    except Exception:
        return  # best effort: the connection may be what failed


async def _current_nuid(store: ObjectStore, name: str) -> str | None:
    from nats.js.errors import NotFoundError as Missing

    try:
        return (await store.get_info(name)).nuid
    except Missing:
        return None


async def object_delete(js: JetStreamContext, tool: spec.ObjectDelete, warn: Warn) -> Data:
    from nats.js.errors import ObjectDeletedError, ObjectNotFoundError

    what = _what(tool)
    store = await _store(js, tool.bucket, what)
    try:
        await store.delete(tool.name)
    except (ObjectNotFoundError, ObjectDeletedError):
        raise _missing(what, tool.name) from None
    return {"status": "success", "bucket": tool.bucket, "name": tool.name}


async def object_info(js: JetStreamContext, tool: spec.ObjectInfo, warn: Warn) -> Data:
    from nats.js.errors import ObjectDeletedError, ObjectNotFoundError

    what = _what(tool)
    store = await _store(js, tool.bucket, what)
    try:
        info = await store.get_info(tool.name)
    except (ObjectNotFoundError, ObjectDeletedError):
        raise _missing(what, tool.name) from None
    return {"status": "success", "bucket": tool.bucket, **info_fields(info)}


async def object_list(js: JetStreamContext, tool: spec.ObjectList, warn: Warn) -> Data:
    from nats.js.errors import NotFoundError as NoObjects

    store = await _store(js, tool.bucket, _what(tool))
    try:
        infos = await store.list(ignore_deletes=True)
    except NoObjects:  # nats-py raises when the bucket is empty; empty is a fine answer
        infos = []
    objects = sorted((info_fields(i) for i in infos), key=lambda o: str(o["name"]))
    return {"status": "success", "bucket": tool.bucket, "objects": objects, "count": len(objects)}


#: This module's operations, by the spec model each one performs.
OPERATIONS: Registry = {
    spec.ObjectGet: object_get,
    spec.ObjectPut: object_put,
    spec.ObjectDelete: object_delete,
    spec.ObjectList: object_list,
    spec.ObjectInfo: object_info,
}
