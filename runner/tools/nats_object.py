"""NATS Object Store operations (SPEC §2): object_get/put/delete/list/info."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from runner.codec import payload_fields
from runner.errors import NotFoundError
from runner.spec import nats as spec

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.api import ObjectInfo
    from nats.js.object_store import ObjectStore

Data = dict[str, Any]


async def _store(js: JetStreamContext, bucket: str, what: str) -> ObjectStore:
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.object_store(bucket)
    except BucketNotFoundError:
        raise NotFoundError(f"{what}: object store bucket '{bucket}' does not exist") from None


def _what(tool: spec.NatsFields) -> str:
    name = f" object '{tool.name}'" if tool.name else ""
    return f"{tool.operation} bucket '{tool.bucket}'{name}"  # type: ignore[attr-defined]


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


async def object_get(js: JetStreamContext, tool: spec.ObjectGet, warn: Any) -> Data:
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


async def object_put(js: JetStreamContext, tool: spec.ObjectPut, warn: Any) -> Data:
    from nats.js.api import ObjectMeta

    store = await _store(js, tool.bucket, _what(tool))
    meta = ObjectMeta(name=tool.name, description=tool.description)
    info = await store.put(tool.name, tool.payload(), meta=meta)
    return {
        "status": "success",
        "bucket": tool.bucket,
        "name": tool.name,
        "size": info.size or 0,
        "digest": info.digest,
    }


async def object_delete(js: JetStreamContext, tool: spec.ObjectDelete, warn: Any) -> Data:
    from nats.js.errors import ObjectDeletedError, ObjectNotFoundError

    what = _what(tool)
    store = await _store(js, tool.bucket, what)
    try:
        await store.delete(tool.name)
    except (ObjectNotFoundError, ObjectDeletedError):
        raise _missing(what, tool.name) from None
    return {"status": "success", "bucket": tool.bucket, "name": tool.name}


async def object_info(js: JetStreamContext, tool: spec.ObjectInfo, warn: Any) -> Data:
    from nats.js.errors import ObjectDeletedError, ObjectNotFoundError

    what = _what(tool)
    store = await _store(js, tool.bucket, what)
    try:
        info = await store.get_info(tool.name)
    except (ObjectNotFoundError, ObjectDeletedError):
        raise _missing(what, tool.name) from None
    return {"status": "success", "bucket": tool.bucket, **info_fields(info)}


async def object_list(js: JetStreamContext, tool: spec.ObjectList, warn: Any) -> Data:
    from nats.js.errors import NotFoundError as NoObjects

    store = await _store(js, tool.bucket, _what(tool))
    try:
        infos = await store.list(ignore_deletes=True)
    except NoObjects:  # nats-py raises when the bucket is empty; empty is a fine answer
        infos = []
    objects = sorted((info_fields(i) for i in infos), key=lambda o: str(o["name"]))
    return {"status": "success", "bucket": tool.bucket, "objects": objects, "count": len(objects)}
