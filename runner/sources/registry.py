"""The explicit registry of subscription sources: source name → the module that opens it.

Modules are named, not imported, so a NATS drain never imports the Kafka or Google clients.
Each module exposes ``async def open_source(tool, credentials: Path, warn) -> SourceClient``.

``start_open`` begins a source's open before the caller needs the client: the runner starts it
as soon as the invocation is validated, and imports its executor while the source connects.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.sources.base import SourceClient

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from runner.spec.invocation import Tool
    from runner.spec.nats import JsConsume
    from runner.spec.subscription import KafkaSubscription, NatsSubscription, PubsubSubscription

    #: A tool that reads a source: a poll (drain) or ack/nack/term of handles it returned.
    SourceTool = JsConsume | NatsSubscription | PubsubSubscription | KafkaSubscription

SOURCES: dict[str, str] = {
    "nats": "runner.sources.nats",
    "pubsub": "runner.sources.pubsub",
    "kafka": "runner.sources.kafka",
}

Opener = Callable[[Any, Path, Callable[[str], None]], Awaitable[SourceClient]]


def opener(source: str) -> Opener:
    module = importlib.import_module(SOURCES[source])
    open_source: Opener = module.open_source
    return open_source


def reads_a_source(tool: Tool) -> TypeIs[SourceTool]:
    """A drain (a subscription poll, js_consume) or a disposal, not a nats operation."""
    return tool.kind == "subscription" or tool.operation == "js_consume"


async def start_open(
    tool: Tool, credentials: Path, warn: Callable[[str], None]
) -> asyncio.Future[SourceClient] | None:
    """The open of the source ``tool`` reads, under way (None for a tool that reads none).

    The open has run up to its first wait when this returns — Kafka's connect and topic
    look-up are in their thread, a NATS connect has its socket opening — so whatever the
    caller does before it awaits the future overlaps the connection. Its errors come out of
    that await, where they would have come out of the open itself."""
    if not reads_a_source(tool):
        return None
    opening = asyncio.ensure_future(opener(tool.source)(tool, credentials, warn))
    await asyncio.sleep(0)  # one turn of the loop: the open starts
    return opening
