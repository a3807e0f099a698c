"""NATS Key-Value operations (docs/reference.md §2): kv_get, kv_put, kv_delete, kv_keys,
kv_purge."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from runner import termination
from runner.codec import encode_value, payload_fields
from runner.errors import NotFoundError
from runner.natsconn import translate
from runner.spec import nats as spec
from runner.tools import Data, Registry, Warn

if TYPE_CHECKING:
    from nats.js import JetStreamContext
    from nats.js.kv import KeyValue


async def _bucket(js: JetStreamContext, bucket: str, what: str) -> KeyValue:
    from nats.js.errors import BucketNotFoundError

    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        raise NotFoundError(f"{what}: KV bucket '{bucket}' does not exist") from None


def _what(tool: spec.NatsFields) -> str:
    key = f" key '{tool.key}'" if tool.key else ""
    return f"{tool.operation} bucket '{tool.bucket}'{key}"


async def kv_get(js: JetStreamContext, tool: spec.KvGet, warn: Warn) -> Data:
    from nats.js.errors import NotFoundError as JsNotFound

    await _bucket(js, tool.bucket, _what(tool))
    base: Data = {"bucket": tool.bucket, "key": tool.key}
    try:
        # The stream API (not KeyValue.get) because it also returns the message time: created.
        msg = await js.get_msg(f"KV_{tool.bucket}", subject=f"$KV.{tool.bucket}.{tool.key}")
    except JsNotFound:
        msg = None
    if msg is None or (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
        return {"status": "not_found", **base, "value": None, "revision": None, "created": None}
    created = msg.time.isoformat().replace("+00:00", "Z") if msg.time else None
    return {
        "status": "success",
        **base,
        **payload_fields(msg.data or b"", "value"),
        "revision": msg.seq,
        "created": created,
    }


async def kv_put(js: JetStreamContext, tool: spec.KvPut, warn: Warn) -> Data:
    what = _what(tool)
    kv = await _bucket(js, tool.bucket, what)
    payload = encode_value(tool.value)
    if tool.ttl is None:
        revision = await kv.put(tool.key, payload)
    else:
        revision = await _put_with_ttl(js, kv, tool, payload, warn)
    return {"status": "success", "bucket": tool.bucket, "key": tool.key, "revision": revision}


async def _put_with_ttl(
    js: JetStreamContext, kv: KeyValue, tool: spec.KvPut, payload: bytes, warn: Warn
) -> int:
    # NATS expires per bucket; a per-key TTL exists only as a per-message TTL on servers that
    # allow it (2.11+, stream flag allow_msg_ttl). Otherwise say so rather than pretend.
    info = await js.stream_info(f"KV_{tool.bucket}")
    if not info.config.allow_msg_ttl:
        warn(
            f"ttl {tool.ttl}s ignored: bucket '{tool.bucket}' does not allow per-message TTL "
            "(needs NATS 2.11+ and a bucket created with allow_msg_ttl); the bucket's own "
            "max_age applies"
        )
        return int(await kv.put(tool.key, payload))
    ack = await js.publish(f"$KV.{tool.bucket}.{tool.key}", payload, msg_ttl=tool.ttl)
    return int(ack.seq)


async def kv_delete(js: JetStreamContext, tool: spec.KvDelete, warn: Warn) -> Data:
    kv = await _bucket(js, tool.bucket, _what(tool))
    await kv.delete(tool.key)
    return {"status": "success", "bucket": tool.bucket, "key": tool.key}


async def kv_purge(js: JetStreamContext, tool: spec.KvPurge, warn: Warn) -> Data:
    kv = await _bucket(js, tool.bucket, _what(tool))
    await kv.purge(tool.key)
    return {"status": "success", "bucket": tool.bucket, "key": tool.key}


async def kv_keys(js: JetStreamContext, tool: spec.KvKeys, warn: Warn) -> Data:
    what = _what(tool)
    await _bucket(js, tool.bucket, what)
    pattern = tool.pattern or "*"
    keys = await _live_keys(js, tool.bucket, subject_filter(pattern), what)
    matched = sorted(k for k in keys if fnmatch.fnmatchcase(k, pattern))
    return {"status": "success", "bucket": tool.bucket, "keys": matched, "count": len(matched)}


#: How long one fetch of key headers may take while the server still counts keys pending.
FETCH_TIMEOUT_S = 5.0


async def _live_keys(js: JetStreamContext, bucket: str, key_filter: str, what: str) -> list[str]:
    """The keys under ``key_filter`` whose last entry is a value (not a delete or purge marker).

    A pull consumer (last entry per subject, headers only), not ``KeyValue.watch``: a watcher's
    end-of-initial-values marker races its own delivery — when the server has pushed every entry
    before the watcher reads its consumer info, the marker comes first and the listing is empty
    (seen under CPU load). Nothing reaches a pull consumer before it fetches, so the pending count
    read at its creation is exact, and each entry's own pending count says when the last arrived.
    An entry still pending when a fetch ends empty is an error, never a shorter list.
    """
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    prefix = f"$KV.{bucket}."
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
        ack_policy=AckPolicy.NONE,
        headers_only=True,
        mem_storage=True,
        num_replicas=1,
        inactive_threshold=30.0,  # the server drops it even if this process dies first
    )
    try:
        sub = await js.pull_subscribe(prefix + key_filter, stream=f"KV_{bucket}", config=config)
        try:
            with termination.acknowledging():  # dropping the consumer must not be cut
                return await _listed(sub, prefix)
        finally:
            await _drop_consumer(js, sub, bucket)
    except Exception as e:
        raise translate(e, what) from e


async def _listed(sub: JetStreamContext.PullSubscription, prefix: str) -> list[str]:
    """The keys under ``prefix``: each entry's own pending count says when the last arrived."""
    pending = (await sub.consumer_info()).num_pending or 0
    keys: list[str] = []
    while pending > 0:
        for msg in await sub.fetch(batch=min(pending, 1000), timeout=FETCH_TIMEOUT_S):
            if (msg.headers or {}).get("KV-Operation") not in ("DEL", "PURGE"):
                keys.append(msg.subject[len(prefix) :])
            pending = msg.metadata.num_pending or 0
    return keys


async def _drop_consumer(
    js: JetStreamContext, sub: JetStreamContext.PullSubscription, bucket: str
) -> None:
    """Delete the listing's consumer now; if the connection is gone, its inactivity threshold
    does it (and the error that matters is the one already raised)."""
    try:
        name = (await sub.consumer_info()).name
        await sub.unsubscribe()
        await js.delete_consumer(f"KV_{bucket}", name)
    except Exception:
        return


def subject_filter(pattern: str) -> str:
    """The narrowest server-side subject filter that contains every key the glob matches.

    The glob's ``*`` crosses dots, so only the tokens before the first wildcard character can be
    pushed to the server: ``orders.*`` → ``orders.>``, ``orders.eu.k1`` → itself, ``*`` → ``>``.
    The glob is then applied to what the server returns.
    """
    if not any(c in pattern for c in "*?["):
        return pattern
    head = pattern[: min(pattern.index(c) for c in "*?[" if c in pattern)]
    tokens = head.split(".")[:-1]  # the token holding the wildcard is open-ended
    return ".".join([*tokens, ">"])


#: This module's operations, by the spec model each one performs.
OPERATIONS: Registry = {
    spec.KvGet: kv_get,
    spec.KvPut: kv_put,
    spec.KvDelete: kv_delete,
    spec.KvKeys: kv_keys,
    spec.KvPurge: kv_purge,
}
