"""NATS JetStream source: a bounded drain from an existing durable pull consumer.

Shared by ``subscription`` (source nats) and the nats tool's ``js_consume``. Handles are the
messages' reply subjects; disposing one publishes ``+ACK``, ``-NAK`` (with a delay) or
``+TERM`` to it, which works from any later connection too (the ``ack`` operation).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import termination
from runner.codec import normalise_headers, payload_fields
from runner.errors import NotFoundError, OperationTimeout
from runner.natsconn import (
    NatsTarget,
    close_quietly,
    connect,
    explicit_fields,
    resolve_target,
    translate,
)
from runner.sources.base import DisposeOutcome, Disposition, Message, PollOptions
from runner.sources.nats_headers import grouped, header_pairs, keep_header_pairs

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg

#: The least time given to fetch messages the server already reported as waiting.
_TRANSFER_S = 1.0
#: JetStream API error codes (``err_code``) of a missing stream and a missing consumer.
_STREAM_NOT_FOUND, _CONSUMER_NOT_FOUND = 10059, 10014
#: How long a ping may take after the drain before the server counts as stopped.
_LIVENESS_S = 2
#: How long an ack (or nak, term) may wait for the server's confirmation.
CONFIRM_S = 10.0
#: How long to look for ready redeliveries when the server reports no new messages waiting.
_PROBE_S = 0.25


class NatsSource:
    supports_handles = True

    def __init__(self, nc: Client, stream: str, consumer: str) -> None:
        self._nc, self._js = nc, nc.jetstream(timeout=5.0)
        self.stream, self.consumer = stream, consumer
        self.what = f"poll stream '{stream}' consumer '{consumer}'"

    @classmethod
    async def open(cls, target: NatsTarget, stream: str, consumer: str) -> NatsSource:
        nc = await connect(target, f"stream '{stream}' consumer '{consumer}'")
        keep_header_pairs(nc)  # repeated headers keep every value (docs/reference.md §3)
        return cls(nc, stream, consumer)

    async def poll(self, options: PollOptions) -> list[Message]:
        from nats.js.errors import NotFoundError as JsNotFound

        try:
            await self._js.consumer_info(self.stream, self.consumer)
            sub = await self._js.pull_subscribe_bind(self.consumer, self.stream)
        except JsNotFound as e:
            raise self._not_found(e.err_code) from None
        except Exception as e:
            raise translate(e, self.what, nc=self._nc) from e
        try:
            with termination.acknowledging():  # the unsubscribe below must not be cut
                messages = await self._drain(sub, options)
                # An empty fetch looks the same from a frozen server as from an empty consumer:
                # a round trip proves the server answered throughout, or the drain is an outage.
                await self._alive()
            return [to_message(m) for m in messages]
        except Exception as e:  # an -ERR on the connection names the cause first
            raise translate(e, self.what, nc=self._nc) from e
        finally:
            await _quietly(sub.unsubscribe())

    async def _alive(self) -> None:
        try:
            await self._nc.flush(timeout=_LIVENESS_S)
        except Exception as e:
            raise OperationTimeout(
                f"{self.what}: the NATS server stopped answering during the drain "
                f"(no reply to a ping within {_LIVENESS_S:g}s); nothing was acked"
            ) from e

    def _not_found(self, err_code: int | None) -> NotFoundError:
        """Tell a missing stream from a missing consumer by the server's code, as NoETL does."""
        if err_code == _STREAM_NOT_FOUND:
            return NotFoundError(f"{self.what}: stream '{self.stream}' does not exist")
        if err_code == _CONSUMER_NOT_FOUND:
            return NotFoundError(
                f"{self.what}: durable consumer '{self.consumer}' does not exist on stream "
                f"'{self.stream}' (create the consumer before draining it)"
            )
        return NotFoundError(f"{self.what}: the stream or its durable consumer does not exist")

    async def _drain(self, sub: Any, options: PollOptions) -> list[Msg]:
        # Wait up to the timeout for one message (nats-py answers at once when one is ready),
        # then take the rest that the server says are already waiting (num_pending of the
        # first), so a partial batch never waits out the timeout.
        started = time.monotonic()
        first = await _fetch(sub, 1, max(options.timeout_ms / 1000, 0.001), self.what)
        if not first or options.batch == 1:
            return first
        # num_pending counts new messages only, not redeliveries that are also ready: with none
        # reported, probe briefly; otherwise allow time to transfer the reported backlog.
        new = first[0].metadata.num_pending
        remaining = options.timeout_ms / 1000 - (time.monotonic() - started)
        window = max(remaining, _TRANSFER_S) if new else _PROBE_S
        return first + await _fetch(sub, options.batch - 1, window, self.what)

    async def dispose(
        self, handles: Sequence[str], disposition: Disposition, *, delay_ms: int = 0
    ) -> DisposeOutcome:
        """Each disposition is a request the server confirms once it has applied it (JetStream's
        double ack), so ``disposed`` counts what the server confirmed — not what was sent. A
        server frozen past ``CONFIRM_S`` leaves the rest unconfirmed: it may still apply them
        when it resumes, and the errors say so."""
        outcome = DisposeOutcome(requested=len(handles), disposed=0)
        valid = [h for h in handles if h.startswith("$JS.ACK.")]
        invalid = [h for h in handles if h not in valid]
        outcome.errors += [f"{h[:80]}: not a JetStream ack handle" for h in invalid]
        failed = await self._confirm(valid, _ack_body(disposition, delay_ms))
        outcome.disposed = len(valid) - len(failed)
        if failed:
            reason = translate(failed[0], f"{disposition} on stream '{self.stream}'").message
            outcome.errors.append(
                f"{len(failed)} of {len(valid)} not confirmed ({reason}); a server that resumes "
                "may still apply them"
            )
        return outcome

    async def _confirm(self, handles: list[str], body: bytes) -> list[Exception]:
        """The failures among one confirmed request per handle, sent all at once."""
        replies = await asyncio.gather(
            *(self._nc.request(h, body, timeout=CONFIRM_S) for h in handles),
            return_exceptions=True,
        )
        return [r if isinstance(r, Exception) else Exception(r) for r in replies if _failed(r)]

    async def close(self) -> None:
        await close_quietly(self._nc)


def _failed(reply: object) -> bool:
    return isinstance(reply, BaseException)


async def _quietly(work: Any) -> None:
    """Unsubscribing from a server that stopped answering must not hide the drain's outcome."""
    try:
        await asyncio.wait_for(work, timeout=_LIVENESS_S)
    except Exception:
        return


async def _fetch(sub: Any, batch: int, timeout_s: float, what: str) -> list[Msg]:
    from nats.errors import TimeoutError as NatsTimeout

    try:
        return list(await sub.fetch(batch, timeout=timeout_s))
    except (TimeoutError, NatsTimeout):
        return []
    except Exception as e:
        raise translate(e, what) from e


def _ack_body(disposition: Disposition, delay_ms: int) -> bytes:
    if disposition == "ack":
        return b"+ACK"
    if disposition == "term":
        return b"+TERM"
    if delay_ms > 0:
        return b"-NAK " + json.dumps({"delay": delay_ms * 1_000_000}).encode()
    return b"-NAK"


def to_message(msg: Msg) -> Message:
    meta = msg.metadata
    pairs = header_pairs(msg.headers)
    fields = payload_fields(msg.data or b"")
    return Message(
        id=str(meta.sequence.stream),
        data=fields["data"],
        encoding=fields.get("encoding"),
        headers=normalise_headers(pairs),
        attributes=grouped(pairs),
        metadata={
            "subject": msg.subject,
            "stream_seq": meta.sequence.stream,
            "consumer_seq": meta.sequence.consumer,
            "delivered": meta.num_delivered,
            "pending": meta.num_pending,
        },
        handle=msg.reply or "",
    )


def js_consume_message(message: Message) -> dict[str, Any]:
    """A drained message in NoETL's ``js_consume`` shape (docs/reference.md §2): the positional
    metadata at the top level beside ``data`` and ``headers``, as playbooks read
    ``messages[i].subject``."""
    out: dict[str, Any] = {**message.metadata, "data": message.data}
    if message.encoding:
        out["encoding"] = message.encoding
    return out | {"headers": message.headers}


async def open_source(tool: Any, credentials: Path, warn: Any) -> NatsSource:
    """Open a drain on ``tool.stream``/``tool.consumer`` (subscription or js_consume)."""
    target = resolve_target(explicit_fields(tool), tool.auth, credentials)
    return await NatsSource.open(target, tool.stream, tool.consumer)
