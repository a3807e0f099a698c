"""Run one validated invocation and write its ToolResult: the runner's whole job.

    perform ──▶ write result ──▶ ack (drains with ack on_success) ──▶ rewrite with acked: true

The ack comes only after the result is safe in its sink (docs/reference.md §5): a runner killed at
any point loses no message, at worst they are redelivered. If the write fails, whatever the drain
fetched is released at once (NATS -NAK, Pub/Sub ack deadline 0) and the exit code is 4. On a
sink that cannot be rewritten (stdout) the result says ``acked: true`` before the ack happens,
and the exit code (3) records it if the ack then fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import log, telemetry, termination
from runner.clock import now_rfc3339
from runner.contract import EXIT_TRANSIENT
from runner.errors import (
    ConfigurationError,
    ConnectionFailed,
    OperationTimeout,
    ResultWriteError,
    ToolpodError,
)
from runner.result import ToolRef, ToolResult
from runner.sinks import Sink
from runner.sources.base import Message, PollOptions, SourceClient
from runner.sources.registry import opener, reads_a_source
from runner.spec.ack import AckBehaviour, parse_ack_mode
from runner.spec.invocation import Invocation

if TYPE_CHECKING:  # only the invocation's own tool family is imported (runner.spec.invocation)
    from runner.sources.registry import SourceTool
    from runner.spec.nats import JsConsume, NatsFields
    from runner.spec.subscription import SubscriptionFields

logger = logging.getLogger("toolpod.runner")

#: Test-only: seconds to sleep after the result is written and before the ack, so a test can
#: SIGKILL the runner in exactly that window. Never set it in production.
PAUSE_BEFORE_ACK_ENV = "TOOLPOD_TEST_PAUSE_BEFORE_ACK"


@dataclass
class Performed:
    """What an operation produced; ``pending`` are handles to ack once the result is safe."""

    data: dict[str, Any]
    pending: list[str] = field(default_factory=list)
    source: SourceClient | None = None


@dataclass
class Run:
    """One invocation's run. ``opening``: the source's open when the caller started it early
    (``runner.sources.registry.start_open``, with this run's ``warnings.append`` as ``warn``)."""

    invocation: Invocation
    credentials: Path
    sink: Sink
    attempt: int = 1
    warnings: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=now_rfc3339)
    t0: float = field(default_factory=time.monotonic)
    opening: Awaitable[SourceClient] | None = None

    def __post_init__(self) -> None:
        # the invocation's own warnings first, ahead of any that an early open already added
        self.warnings[:0] = self.invocation.warnings

    def result(self, **fields: Any) -> ToolResult:
        """The success record, with ``fields`` (``data``) added."""
        return ToolResult(status="success", **self._record_fields(), **fields)

    def error(self, e: ToolpodError) -> ToolResult:
        return ToolResult.from_error(e, **self._record_fields())

    def _record_fields(self) -> dict[str, Any]:
        """What every record of this run carries, whatever its status."""
        inv = self.invocation
        return {
            "warnings": list(self.warnings),
            "duration_ms": int((time.monotonic() - self.t0) * 1000),
            "invocation_id": inv.invocation_id,
            "execution_id": inv.execution_id,
            "step": inv.step,
            "tool": ToolRef(kind=inv.tool.kind, operation=inv.tool.operation),
            "started_at": self.started_at,
            "finished_at": now_rfc3339(),
            "attempt": self.attempt,
        }


async def execute(run: Run) -> ToolResult:
    """Perform, write, settle. Always returns the result that was (or could not be) written."""
    inv = run.invocation
    try:
        async with AsyncExitStack() as stack:
            with termination.acknowledging():  # the stack's exits close what was opened
                performed = await _with_deadline(_perform(run, stack), inv.deadline_s)
            try:
                with termination.acknowledging():
                    return await _settle(run, performed)
            except asyncio.CancelledError:  # SIGTERM (cancel, eviction): hand the batch back now
                if performed.source is not None:
                    await _release(performed.source, performed.pending)
                raise
    except ToolpodError as e:
        return await _write_error(run, e)


async def _with_deadline(work: Any, deadline_s: int | None) -> Performed:
    if not deadline_s:
        return await work  # type: ignore[no-any-return]
    try:
        async with asyncio.timeout(deadline_s):
            return await work  # type: ignore[no-any-return]
    except TimeoutError:
        raise OperationTimeout(f"the invocation's deadline_s {deadline_s} was exceeded") from None


async def _write_error(run: Run, e: ToolpodError) -> ToolResult:
    result = run.error(e)
    if isinstance(e, ResultWriteError) and not _is_too_large(e):
        return result  # the sink itself failed: nothing more can be written
    try:
        await run.sink.write(result)
    except ResultWriteError as write_error:
        log.event(
            logger,
            "the error result could not be written",
            logging.ERROR,
            error=write_error.message,
        )
        return run.error(write_error)
    return result


def _is_too_large(e: ToolpodError) -> bool:
    return e.kind == "result_too_large"


# -- perform ---------------------------------------------------------------------------------


async def _perform(run: Run, stack: AsyncExitStack) -> Performed:
    tool = run.invocation.tool
    execution_id = run.invocation.execution_id
    if not reads_a_source(tool):  # parsing chose the model: an operation, not a drain
        with telemetry.span("nats.op", operation=tool.operation, execution_id=execution_id):
            return Performed(await _nats_op(run, tool, stack))
    with telemetry.span(
        "tool.dispatch.subscription",
        source=tool.source,
        operation=tool.operation,
        execution_id=execution_id,
    ):
        client = await _open_source(run, tool, stack)
        if tool.kind == "subscription" and tool.operation != "poll":
            return Performed(await _dispose(client, tool))
        return await _drain(run, client, tool)


async def _nats_op(run: Run, tool: NatsFields, stack: AsyncExitStack) -> dict[str, Any]:
    from runner.natsconn import explicit_fields, resolve_target, session, translate
    from runner.tools import operation

    perform = operation(tool)
    target = resolve_target(explicit_fields(tool), tool.auth, run.credentials)
    nc, js = await stack.enter_async_context(session(target, tool.operation))
    try:
        return await perform(js, tool, run.warnings.append)
    except Exception as e:  # translated already or not: an -ERR on nc names the cause first
        raise translate(e, _describe(tool), target.server, nc) from e


def _describe(tool: NatsFields) -> str:
    names = ("bucket", "key", "name", "stream", "subject")
    parts = [f"{n} '{getattr(tool, n)}'" for n in names if getattr(tool, n, None)]
    return " ".join([tool.operation, *parts])


async def _open_source(run: Run, tool: SourceTool, stack: AsyncExitStack) -> SourceClient:
    opening = run.opening or opener(tool.source)(tool, run.credentials, run.warnings.append)
    client = await opening
    stack.push_async_callback(client.close)
    return client


async def _dispose(client: SourceClient, tool: SubscriptionFields) -> dict[str, Any]:
    source, operation = tool.source, tool.operation
    assert operation != "poll"  # a poll drains
    if not client.supports_handles:
        raise ConfigurationError(
            f"{tool.operation} on source {source}: {source} has no ack handles; a poll with "
            "ack on_success commits what it returned"
        )
    outcome = await client.dispose(tool.ack_ids, operation, delay_ms=tool.nack_delay_ms)
    return {
        "status": "success" if not outcome.errors else "partial",
        "source": source,
        "operation": tool.operation,
        "requested": outcome.requested,
        "disposed": outcome.disposed,
        "errors": outcome.errors,
        "metrics": {
            "noetl_subscription_messages_disposed_total": outcome.disposed,
            "source": source,
        },
    }


async def _drain(run: Run, client: SourceClient, tool: SourceTool) -> Performed:
    ack_mode, behaviour = parse_ack_mode(tool.ack)
    messages = await client.poll(PollOptions(batch=tool.batch, timeout_ms=tool.timeout_ms))
    try:
        data = _drain_data(tool, ack_mode, behaviour, messages, client.supports_handles)
    except BaseException:
        await _release(client, [m.handle for m in messages])
        raise
    pending = [m.handle for m in messages] if behaviour is AckBehaviour.ACK_ALL else []
    return Performed(data, pending=pending, source=client)


def _drain_data(
    tool: SourceTool,
    ack_mode: str,
    behaviour: AckBehaviour,
    messages: list[Message],
    handles: bool,
) -> dict[str, Any]:
    if tool.kind == "nats":  # js_consume
        return _js_consume_data(tool, messages)
    source = tool.source
    with_handle = behaviour is AckBehaviour.DEFER and handles
    ack_ids = (
        [m.handle for m in messages]
        if behaviour in (AckBehaviour.MANUAL, AckBehaviour.DEFER) and handles
        else []
    )
    body = [m.to_json(with_handle=with_handle) for m in messages]
    return {
        "status": "success",
        "source": source,
        "operation": "poll",
        "count": len(body),
        "acked": False,
        "ack_mode": ack_mode,
        "ack_ids": ack_ids,
        "messages": body,
        "metrics": {"noetl_subscription_messages_fetched_total": len(body), "source": source},
    }


def _js_consume_data(tool: JsConsume, messages: list[Message]) -> dict[str, Any]:
    """NoETL's js_consume result (docs/reference.md §2): its message shape, and no ack_mode or
    ack_ids."""
    from runner.sources.nats import js_consume_message

    return {
        "status": "success",
        "stream": tool.stream,
        "consumer": tool.consumer,
        "count": len(messages),
        "messages": [js_consume_message(m) for m in messages],
        "acked": False,
    }


# -- settle: write, then ack ------------------------------------------------------------------


async def _settle(run: Run, performed: Performed) -> ToolResult:
    if not performed.pending or performed.source is None:
        result = run.result(data=performed.data)
        await run.sink.write(result)
        return result
    if run.sink.rewritable:
        return await _write_then_ack(run, performed, performed.source)
    return await _ack_after_print(run, performed, performed.source)


async def _write_then_ack(run: Run, performed: Performed, source: SourceClient) -> ToolResult:
    await _write_or_release(run, run.result(data=performed.data), source, performed.pending)
    with termination.shielded():  # the result is safe: ack and record it, whatever arrives
        return await _ack_and_rewrite(run, performed, source)


async def _ack_and_rewrite(run: Run, performed: Performed, source: SourceClient) -> ToolResult:
    try:
        await _ack(source, performed.pending)
    except ToolpodError as e:
        run.warnings.append(
            f"ack failed ({e.message}); the messages will be redelivered, unless a server that "
            "stopped answering applies the ack when it resumes"
        )
        result = run.result(data=performed.data)
    else:
        result = run.result(data={**performed.data, "acked": True})
    await run.sink.write(result)
    return result


async def _ack_after_print(run: Run, performed: Performed, source: SourceClient) -> ToolResult:
    result = run.result(data={**performed.data, "acked": True})
    await _write_or_release(run, result, source, performed.pending)
    with termination.shielded():  # printed in full: make its acked: true come true
        return await _ack_printed(result, performed, source)


async def _ack_printed(
    result: ToolResult, performed: Performed, source: SourceClient
) -> ToolResult:
    try:
        await _ack(source, performed.pending)
    except ToolpodError as e:
        log.event(
            logger,
            "ack failed after the result was printed; the printed acked is wrong "
            "and the messages will be redelivered",
            logging.ERROR,
            error=e.message,
        )
        return result.model_copy(update={"exit_code": EXIT_TRANSIENT})
    return result


async def _ack(source: SourceClient, handles: list[str]) -> None:
    """Ack ``handles``; an error unless the source confirmed every one of them."""
    outcome = await source.dispose(handles, "ack")
    if outcome.errors:
        raise ConnectionFailed("; ".join(outcome.errors[:3]))


async def _write_or_release(
    run: Run, result: ToolResult, source: SourceClient, pending: list[str]
) -> None:
    """The write that must succeed before any ack; on failure the fetched messages go back."""
    try:
        await run.sink.write(result)
    except ResultWriteError:
        await _release(source, pending)
        raise
    await _test_pause()


async def _release(source: SourceClient, handles: list[str]) -> None:
    """Hand fetched messages back for prompt redelivery; best effort, never raises."""
    if not handles or not source.supports_handles:
        return
    try:
        await source.dispose(handles, "nack")
    except Exception as e:
        log.event(
            logger,
            "releasing fetched messages failed; they return after the ack wait",
            logging.WARNING,
            error=str(e),
        )


async def _test_pause() -> None:
    seconds = os.environ.get(PAUSE_BEFORE_ACK_ENV)
    if seconds:
        log.event(logger, "test pause before ack", seconds=seconds)
        await asyncio.sleep(float(seconds))
        log.event(logger, "test pause over, acking")  # a fault test strikes during the ack
