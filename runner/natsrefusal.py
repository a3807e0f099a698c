"""What a NATS server's ``-ERR`` means for the invocation: the table that classifies it.

A server that objects to what a client sent writes ``-ERR '<reason>'`` and, for most reasons,
closes the connection. nats-py surfaces the reason in two places only: the error callback (while
connecting, after which ``connect`` raises ``NoServersError``) and ``Client.last_error`` (once
connected; the pending operation itself then fails as "connection closed" or a timeout). Read
from there, a 10 KB subject or a payload over ``max_payload`` is not "cannot connect": the
``-ERR`` arrives before the close on the same stream, so the classification is the same on every
run. A full server is the exception: its ``-ERR`` can be lost with the socket (``left_unread``),
exit 3 either way. docs/failure-semantics.md lists the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.errors import AuthError, ConfigurationError, ConnectionFailed, ToolpodError

#: (a fragment of the server's reason, lower case; the class; what it means for the caller)
_TABLE: tuple[tuple[str, type[ToolpodError], str], ...] = (
    ("authorization violation", AuthError, "rejected the credentials"),
    ("authentication expired", AuthError, "rejected the credentials (expired)"),
    ("authentication revoked", AuthError, "rejected the credentials (revoked)"),
    ("permissions violation", AuthError, "denied the operation to these credentials"),
    (
        "maximum control line exceeded",
        ConfigurationError,
        "closed the connection: a subject or header line is longer than it accepts",
    ),
    (
        "maximum payload",
        ConfigurationError,
        "does not accept a message this large (its max_payload)",
    ),
    ("invalid publish subject", ConfigurationError, "rejected the subject"),
    ("invalid subject", ConfigurationError, "rejected the subject"),
    ("tls required", ConfigurationError, "requires TLS (use a tls:// URL)"),
    (
        "maximum account active connections exceeded",
        ConnectionFailed,
        "is at the account's connection limit; retry when connections free up",
    ),
    (
        "maximum connections exceeded",
        ConnectionFailed,
        "is at its connection limit; retry when connections free up",
    ),
    (
        "maximum subscriptions exceeded",
        ConfigurationError,
        "refused a subscription over the account's limit",
    ),
)


@dataclass(frozen=True)
class Refusal:
    """One ``-ERR`` the table knows: the server's own words and what they mean."""

    reason: str
    kind: type[ToolpodError]
    meaning: str

    def error(self, what: str, who: str) -> ToolpodError:
        return self.kind(f"{what}: {who} {self.meaning} (-ERR '{self.reason}')")


def refusal(e: BaseException | None) -> Refusal | None:
    """The server's ``-ERR`` behind ``e``, if ``e`` carries one the table knows."""
    from nats import errors as ne

    if not isinstance(e, ne.Error):
        return None
    if isinstance(e, ne.AuthorizationError):  # nats-py words this one itself
        return Refusal("Authorization Violation", AuthError, _TABLE[0][2])
    reason = str(e).removeprefix("nats: ").strip().strip("'").strip()
    low = reason.lower()
    for fragment, kind, meaning in _TABLE:
        if fragment in low:
            return Refusal(reason[:200], kind, meaning)
    return None


class Refusals:
    """An error callback for nats-py that keeps the first ``-ERR`` the table knows, and closes
    the socket of each failed connect attempt of ``nc``."""

    def __init__(self, nc: Any = None) -> None:
        self.first: BaseException | None = None
        self._nc = nc

    async def record(self, e: Exception) -> None:
        if self.first is None and isinstance(e, OSError) and self._nc is not None:
            e = left_unread(self._nc) or e
        if self.first is None and refusal(e) is not None:
            self.first = e
        if self._nc is not None and self._nc.is_connecting:
            self.drop_attempt()

    def drop_attempt(self) -> None:
        """nats-py keeps one transport for all its connect attempts and replaces a failed
        attempt's stream without closing it: the socket stayed open until the garbage collector
        found it ("unclosed transport", a ResourceWarning in whatever ran then)."""
        transport = getattr(self._nc, "_transport", None)
        if transport is not None:
            transport.close()


def left_unread(nc: Any) -> Exception | None:
    """The ``-ERR`` a full server sent before closing, if nats-py left it unread.

    The server writes INFO and ``-ERR 'maximum connections exceeded'``, then closes. nats-py
    answers the INFO with CONNECT; the server's kernel resets the closed socket, and nats-py's
    reader raises the reset before it looks at the line it already holds: the reason sits in
    the reader's buffer (the kernel hands over data received before a reset first). Read from
    there, a full server is "at its connection limit", not "cannot connect" — unless the reset
    met nats-py's second write before the -ERR was read (docs/failure-semantics.md).
    """
    from nats import errors as ne

    reader = getattr(getattr(nc, "_transport", None), "_io_reader", None)
    held = bytes(getattr(reader, "_buffer", b""))
    for line in held.split(b"\r\n"):
        if line.startswith(b"-ERR "):
            found = ne.Error("nats: " + line[5:].decode("utf-8", "replace")[:200])
            if refusal(found) is not None:
                return found
    return None
