"""The executor interface every backend implements (blocking calls; ``controller.api`` wraps
them for asyncio). Failures are ``controller.errors`` classes: ``SubmitError`` (a credential is
missing: nothing was created), ``InvocationNotFound``, ``KubeError`` and its subclasses.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from controller.errors import InvocationNotFound, SubmitError
from controller.outcome import Outcome
from runner.spec.invocation import Invocation

__all__ = ["Executor", "InvocationNotFound", "SubmitError"]


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
