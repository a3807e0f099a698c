"""Chunks no object names: what a put killed mid-way (SIGKILL, a node lost) leaves behind.

An object's chunks go to ``$O.<bucket>.C.<nuid>`` and its meta, written last, names the nuid.
A put that is interrupted in-process purges its own chunks (``nats_object._purge_orphans``); a
put that is killed cannot, and nats-py, like the other NATS clients, never sweeps. So each
completed ``object_put`` sweeps its bucket: a chunk subject that no meta names and whose newest
chunk is older than ``ORPHAN_AGE_S`` is purged. The age is read on the server's clock only
(the stream's newest message, the put's own meta, is "now"), so a skewed runner clock cannot
make a live put look old; and a live put is never that old: each chunk waits for the server's
ack (5 s at most), so its newest chunk is always seconds old. docs/failure-semantics.md
records the decision.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.js.api import RawStreamMsg
    from nats.js.object_store import ObjectStore

#: A chunk subject no meta names, untouched this long, belongs to a put that died.
ORPHAN_AGE_S = 600.0
#: Test-only: a shorter age, so a test can SIGKILL a put and see the next put sweep it.
ORPHAN_AGE_ENV = "TOOLPOD_TEST_ORPHAN_AGE_S"
#: The sweep is best effort and never holds a put that completed longer than this.
_SWEEP_S = 5.0


def orphan_age_s() -> float:
    return float(os.environ.get(ORPHAN_AGE_ENV) or ORPHAN_AGE_S)


async def sweep(store: ObjectStore) -> int:
    """Purge the bucket's orphan chunk subjects; how many were purged (0 when it could not
    tell: a failed sweep must not fail the put that completed)."""
    try:
        async with asyncio.timeout(_SWEEP_S):
            return await _sweep(store)
    except Exception:
        return 0


async def _sweep(store: ObjectStore) -> int:
    js, stream, bucket = store._js, store._stream, store._name
    info = await js.stream_info(stream)
    now = _time(await js.get_msg(stream, seq=info.state.last_seq))
    named = await _named_nuids(store)
    info = await js.stream_info(stream, subjects_filter=f"$O.{bucket}.C.>")
    purged = 0
    for subject in info.state.subjects or {}:
        if subject.rsplit(".", 1)[-1] in named:
            continue
        newest = _time(await js.get_msg(stream, subject=subject))
        if (now - newest).total_seconds() > orphan_age_s():
            await js.purge_stream(stream, subject=subject)
            purged += 1
    return purged


async def _named_nuids(store: ObjectStore) -> set[str]:
    from nats.js.errors import NotFoundError

    try:
        infos = await store.list(ignore_deletes=False)
    except NotFoundError:  # nats-py's answer for a bucket with no object
        return set()
    return {i.nuid for i in infos if i.nuid}


def _time(msg: RawStreamMsg) -> datetime.datetime:
    """A stored message's timestamp: the server's clock, never the runner's."""
    if msg.time is None:
        raise ValueError("the server gave no timestamp")
    return msg.time
