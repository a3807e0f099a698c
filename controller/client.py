"""A worker's client for ``toolpod serve`` (docs/service.md): plain HTTP through httpx, nothing else
of toolpod's or Kubernetes' (a test keeps it that way), so a worker image needs only httpx.

    with Client("http://toolpod.toolpod:8080", namespace="jobs") as tp:   # token: the Pod's own
        record = tp.run({"tool": {...}}, timeout=60)   # the finished invocation record
        record["phase"], record["exit_code"], record["result"]

    async with AsyncClient(server, namespace="jobs") as tp:
        rec = await tp.submit(invocation)              # 202: Queued or Running
        rec = await tp.wait(rec["id"], timeout=120)     # long-polls ?wait= until finished

An error answer raises ``ServiceError`` with the body's kind, message and fields.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

#: Where Kubernetes mounts a Pod's ServiceAccount token.
POD_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
FINAL = ("Succeeded", "Failed", "Cancelled")
#: One long-poll holds at most this long (the service caps ``wait`` too).
POLL_S = 60.0
# Connections: httpx's pool (100 by default); more waits at once than that queue for one
# (``pool=None``) instead of failing after the connect timeout.
_TIMEOUT = httpx.Timeout(10, read=POLL_S + 30, pool=None)

Record = dict[str, Any]


class ServiceError(Exception):
    def __init__(self, status: int, kind: str, message: str, fields: list[str]) -> None:
        super().__init__(f"{status} {kind}: {message}")
        self.status, self.kind, self.message, self.fields = status, kind, message, fields


def read_token(token: str | None = None, token_file: str | None = None) -> str | None:
    """The token given, else the file's (re-read on each call: projected tokens rotate), else
    the Pod's own when it exists."""
    if token:
        return token
    path = Path(token_file or POD_TOKEN)
    return path.read_text().strip() if (token_file or path.exists()) else None


def _check(resp: httpx.Response) -> Record:
    if resp.status_code < 400:
        return dict(resp.json())
    try:
        err = resp.json()["error"]
        kind, message, fields = err["kind"], err["message"], list(err.get("fields") or [])
    except (ValueError, KeyError, TypeError):
        kind, message, fields = "http", resp.text[:500], []
    raise ServiceError(resp.status_code, kind, message, fields)


class _Base:
    def __init__(
        self,
        server: str,
        namespace: str,
        *,
        token: str | None = None,
        token_file: str | None = None,
    ) -> None:
        self.server, self.namespace = server.rstrip("/"), namespace
        self._token, self._token_file = token, token_file

    def _url(self, inv_id: str | None = None) -> str:
        base = f"{self.server}/v1/namespaces/{self.namespace}/invocations"
        return f"{base}/{inv_id}" if inv_id else base

    def _headers(self) -> dict[str, str]:
        token = read_token(self._token, self._token_file)
        return {"Authorization": f"Bearer {token}"} if token else {}

    @staticmethod
    def _wait(seconds: float | None) -> dict[str, str]:
        return {} if seconds is None else {"wait": f"{max(seconds, 0):g}"}


class Client(_Base):
    """Blocking client."""

    def __init__(self, server: str, namespace: str, **kw: Any) -> None:
        super().__init__(server, namespace, **{k: v for k, v in kw.items() if k != "http"})
        self.http = kw.get("http") or httpx.Client(timeout=_TIMEOUT)

    def submit(self, invocation: Mapping[str, Any], wait: float | None = None) -> Record:
        params = self._wait(wait)
        return _check(self.http.post(self._url(), json=invocation, params=params, **self._h()))

    def get(self, inv_id: str, wait: float | None = None) -> Record:
        return _check(self.http.get(self._url(inv_id), params=self._wait(wait), **self._h()))

    def wait(self, inv_id: str, timeout: float | None = None) -> Record:
        """The finished record; ``TimeoutError`` after ``timeout`` (the invocation goes on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            record = self.get(inv_id, wait=max(left, 0))
            if record["phase"] in FINAL:
                return record
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"invocation {inv_id} still {record['phase']}")

    def run(self, invocation: Mapping[str, Any], timeout: float | None = None) -> Record:
        record = self.submit(invocation, wait=min(timeout or POLL_S, POLL_S))
        return record if record["phase"] in FINAL else self.wait(record["id"], timeout)

    def cancel(self, inv_id: str) -> Record:
        return _check(self.http.delete(self._url(inv_id), **self._h()))

    def list(self, execution_id: str | None = None) -> list[Record]:
        params = {"execution_id": execution_id} if execution_id else {}
        return list(_check(self.http.get(self._url(), params=params, **self._h()))["items"])

    def _h(self) -> dict[str, Any]:
        return {"headers": self._headers()}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """The asyncio twin of ``Client``."""

    def __init__(self, server: str, namespace: str, **kw: Any) -> None:
        super().__init__(server, namespace, **{k: v for k, v in kw.items() if k != "http"})
        self.http = kw.get("http") or httpx.AsyncClient(timeout=_TIMEOUT)

    async def submit(self, invocation: Mapping[str, Any], wait: float | None = None) -> Record:
        params = self._wait(wait)
        h = self._headers()
        return _check(await self.http.post(self._url(), json=invocation, params=params, headers=h))

    async def get(self, inv_id: str, wait: float | None = None) -> Record:
        params, h = self._wait(wait), self._headers()
        return _check(await self.http.get(self._url(inv_id), params=params, headers=h))

    async def wait(self, inv_id: str, timeout: float | None = None) -> Record:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            record = await self.get(inv_id, wait=max(left, 0))
            if record["phase"] in FINAL:
                return record
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"invocation {inv_id} still {record['phase']}")

    async def run(self, invocation: Mapping[str, Any], timeout: float | None = None) -> Record:
        record = await self.submit(invocation, wait=min(timeout or POLL_S, POLL_S))
        return record if record["phase"] in FINAL else await self.wait(record["id"], timeout)

    async def cancel(self, inv_id: str) -> Record:
        return _check(await self.http.delete(self._url(inv_id), headers=self._headers()))

    async def list(self, execution_id: str | None = None) -> list[Record]:
        params = {"execution_id": execution_id} if execution_id else {}
        resp = await self.http.get(self._url(), params=params, headers=self._headers())
        return list(_check(resp)["items"])

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
