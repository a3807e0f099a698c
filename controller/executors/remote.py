"""The ``remote`` executor: the same verbs through a ``toolpod serve`` (``toolpod --server URL``),
so the CLI works from a Pod with nothing but its ServiceAccount token."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import httpx

from controller.client import Client, ServiceError
from controller.errors import IdConflict
from controller.executors.base import InvocationNotFound, SubmitError
from controller.outcome import Outcome
from runner.errors import ConfigurationError
from runner.spec.invocation import Invocation, complete_invocation_model

# this module serialises whole invocations: every tool family's models (runner/spec/invocation.py)
complete_invocation_model()


def outcome_of(record: dict[str, Any]) -> Outcome:
    result = record.get("result") or {}
    return Outcome(result.get("status", "error"), record["exit_code"], result, record["reason"])


def _raise(e: ServiceError) -> None:
    """The service's answer as the error the CLI already reports (one line, its exit code)."""
    if e.status == 404:
        raise InvocationNotFound(e.message) from None
    if e.status == 409:
        raise IdConflict(e.message) from None
    if e.status == 422:
        raise ConfigurationError(e.message) from None
    raise SubmitError(f"the toolpod service answered {e.status} {e.kind}: {e.message}") from None


class RemoteExecutor:
    name = "remote"

    def __init__(self, server: str, namespace: str, token_file: str | None = None) -> None:
        self.client = Client(server, namespace, token_file=token_file)

    def _do(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except ServiceError as e:
            _raise(e)
        except httpx.HTTPError as e:
            msg = f"the toolpod service at {self.client.server} cannot be reached: {e}"
            raise SubmitError(msg) from None

    def submit(self, invocation: Invocation) -> str:
        # Only what the user wrote: defaults would come back as "not used by" warnings.
        body = invocation.model_dump(mode="json", exclude_unset=True)
        body["id"] = invocation.invocation_id
        return str(self._do(self.client.submit, body)["id"])

    def outcome(self, inv_id: str) -> Future[Outcome]:
        out: Future[Outcome] = Future()

        def wait() -> None:
            try:
                out.set_result(outcome_of(self._do(self.client.wait, inv_id)))
            except BaseException as e:
                out.set_exception(e)

        threading.Thread(target=wait, daemon=True, name=f"toolpod-wait-{inv_id}").start()
        return out

    def get(self, inv_id: str) -> Outcome | None:
        record = self._do(self.client.get, inv_id)
        return outcome_of(record) if record.get("exit_code") is not None else None

    def cancel(self, inv_id: str) -> Outcome:
        return outcome_of(self._do(self.client.cancel, inv_id))

    def list(self) -> list[dict[str, Any]]:
        rows = self._do(self.client.list)
        keys = ("id", "phase", "exit_code", "created_at")
        return [{k: r.get(k) for k in keys} for r in rows]

    def logs(self, inv_id: str) -> str:
        raise SubmitError("logs are not served over HTTP yet; use kubectl logs job/toolpod-ID")

    def close(self) -> None:
        self.client.close()
