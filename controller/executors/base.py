"""The executor interface every backend implements (blocking calls; ``controller.api`` wraps
them for asyncio).

    SubmitError (exit 2)        the invocation is invalid or a credential is missing:
                                nothing was created
    InvocationNotFound (exit 2) no invocation with that id exists (any more)
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from controller.outcome import Outcome
from runner.spec.invocation import Invocation


class SubmitError(Exception):
    exit_code = 2


class InvocationNotFound(Exception):
    exit_code = 2


class Executor(Protocol):
    name: str

    def submit(self, invocation: Invocation) -> str:
        """Start the invocation (or attach to the one with the same id); returns the id."""
        ...

    def outcome(self, inv_id: str) -> Future[Outcome]:
        """Resolved with the outcome once known; then the invocation's objects are cleaned up."""
        ...

    def get(self, inv_id: str) -> Outcome | None:
        """The outcome if already known, None while running; never waits, never cleans up."""
        ...

    def cancel(self, inv_id: str) -> Outcome: ...

    def list(self) -> list[dict[str, Any]]:
        """One summary per invocation still known: id, tool, operation, state."""
        ...

    def logs(self, inv_id: str) -> str: ...

    def close(self) -> None: ...
