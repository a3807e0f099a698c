"""The one interface every subscription source implements, and the envelope they all return.

A source client is opened for one invocation and closed in ``finally``. ``poll`` never acks:
the executor writes the result first and only then calls ``dispose(handles, "ack")``
(docs/reference.md §5), so a runner killed between the two loses nothing. ``dispose`` is also how
``ack``/``nack``/``term`` operations settle handles from an earlier poll, and how a failed drain
releases what it fetched.

Drain rules every implementation keeps (docs/reference.md §3): return within ``timeout_ms`` plus
set-up; never more than ``batch``; with k < batch ready return them without waiting the whole
timeout; with none ready wait up to ``timeout_ms`` for the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Disposition = Literal["ack", "nack", "term"]


@dataclass(frozen=True)
class PollOptions:
    batch: int
    timeout_ms: int


@dataclass
class Message:
    """One message in the common envelope of docs/reference.md §3.

    ``handle`` is the source's own disposal handle (NATS reply subject, Pub/Sub ackId, Kafka
    ``topic:partition:offset``); the executor decides whether users see it (ack modes).
    """

    id: str
    data: Any
    headers: dict[str, Any]
    attributes: dict[str, Any]
    metadata: dict[str, Any]
    handle: str
    encoding: str | None = None

    def to_json(self, *, with_handle: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "data": self.data}
        if self.encoding:
            out["encoding"] = self.encoding
        out |= {"headers": self.headers, "attributes": self.attributes, "metadata": self.metadata}
        if with_handle:
            out["ack_id"] = self.handle
        return out


@dataclass
class DisposeOutcome:
    requested: int
    disposed: int
    errors: list[str] = field(default_factory=list)


class SourceClient(Protocol):
    """A connection to one source for one invocation. Implementations: one module each."""

    #: handles exist for users (False for Kafka: ack/nack/term operations are an error there)
    supports_handles: bool

    async def poll(self, options: PollOptions) -> list[Message]:
        """Fetch up to ``options.batch`` messages under the drain rules; acknowledge nothing."""
        ...

    async def dispose(
        self, handles: Sequence[str], disposition: Disposition, *, delay_ms: int = 0
    ) -> DisposeOutcome:
        """Ack, nack (redeliver after ``delay_ms``) or term the given handles."""
        ...

    async def close(self) -> None: ...
