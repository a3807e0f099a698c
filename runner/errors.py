"""toolpod's error hierarchy. Every failure the runner reports is one of these.

Each class carries its policy as attributes, so the edge (CLI, result writer, Job
podFailurePolicy) never has to guess::

    class                 kind              exit  retriable  e.g.
    ToolpodError
    ├── ConfigurationError  configuration     2     no         bad spec, missing field, bad base64
    ├── AuthError           auth              2     no         wrong password or token
    ├── ExecutionError      execution         2     no         the server refused the operation
    │   └── NotFoundError   execution         2     no         missing bucket/stream/object
    ├── ConnectionFailed    connection        3     yes        refused, broker unavailable
    ├── OperationTimeout    timeout           3     yes        no answer in time, deadline_s
    └── ResultWriteError    execution         4     yes        the sink refused the write
        └── ResultTooLarge  result_too_large  4     no         over the ConfigMap / max_payload

Third-party exceptions are translated in one place per client (``runner.natsconn.translate``
for NATS, and each ``runner.sources`` module for its own), always with ``raise ... from e``.
The exit codes are the contract's (``runner.contract``, docs/contract.md). Messages name the
operation and the object and never contain a secret: callers pass only names, never
credentials, and a URL's userinfo is scrubbed from every message here (``runner.endpoints.scrub``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from runner.contract import EXIT_PERMANENT, EXIT_RESULT_NOT_WRITTEN, EXIT_TRANSIENT
from runner.endpoints import scrub

ErrorKind = Literal[
    "configuration", "auth", "connection", "execution", "timeout", "result_too_large"
]


class ToolpodError(Exception):
    """Base of every error toolpod reports in a ToolResult."""

    kind: ClassVar[ErrorKind] = "execution"
    retriable: ClassVar[bool] = False
    exit_code: ClassVar[int] = EXIT_PERMANENT

    def __init__(self, message: str) -> None:
        message = scrub(message)  # an endpoint's user:password@ never reaches a result or log
        super().__init__(message)
        self.message = message


class ConfigurationError(ToolpodError):
    kind = "configuration"


class AuthError(ToolpodError):
    kind = "auth"


class ExecutionError(ToolpodError):
    kind = "execution"


class NotFoundError(ExecutionError):
    """A named bucket, stream, consumer, object, subscription or topic does not exist."""


class ConnectionFailed(ToolpodError):
    kind = "connection"
    retriable = True
    exit_code = EXIT_TRANSIENT


class OperationTimeout(ToolpodError):
    kind = "timeout"
    retriable = True
    exit_code = EXIT_TRANSIENT


class ResultWriteError(ToolpodError):
    """The result could not be written to its sink (exit 4)."""

    kind = "execution"
    retriable = True
    exit_code = EXIT_RESULT_NOT_WRITTEN


class ResultTooLarge(ResultWriteError):
    kind = "result_too_large"  # type: ignore[assignment]  # a narrower kind for one subclass
    retriable = False
