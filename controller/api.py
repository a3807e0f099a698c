"""The Python API for workers: submit → handle → result, run, get, cancel; asyncio first.

Every id is checked (``controller.names``) before it reaches an executor: an invalid one is
``InvalidInput`` (exit 2 / HTTP 400) with nothing requested. Failures are ``controller.errors``
classes (and ``runner.errors.ConfigurationError`` from ``parse``).

    async with Toolpod.kubernetes(settings) as tp:       # or Toolpod.local(credentials=DIR)
        handle = await tp.submit({"tool": {...}})         # validated first; nothing on bad input
        outcome = await handle.result(timeout=60)         # Outcome(status, exit_code, result)
        outcome = await tp.run(invocation)                 # both in one
        await tp.cancel(handle.id)

Every coroutine has a blocking twin (``submit_sync``, ``Handle.result_sync``...) for code
without an event loop. Executor calls block on the API server, so they run on a private
thread pool sized for many concurrent invocations; waiting costs no thread at all (the
executor's futures are awaited directly).
"""

from __future__ import annotations

import asyncio
import builtins
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from controller import names
from controller.executors import Executor, build
from controller.outcome import Outcome
from controller.settings import Settings
from runner.spec.invocation import Invocation, parse_invocation

T = TypeVar("T")
InvocationLike = Invocation | Mapping[str, Any]


def parse(invocation: InvocationLike) -> Invocation:
    """An ``Invocation`` from a mapping (raises runner's ``ConfigurationError``, exit 2)."""
    return invocation if isinstance(invocation, Invocation) else parse_invocation(invocation)


class Handle:
    def __init__(self, client: Toolpod, inv_id: str) -> None:
        self.client, self.id = client, names.invocation_id(inv_id)

    async def result(self, timeout: float | None = None) -> Outcome:
        """The outcome; ``TimeoutError`` after ``timeout`` seconds (the invocation goes on)."""
        fut = await self.client._call(self.client.executor.outcome, self.id)
        return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)

    def result_sync(self, timeout: float | None = None) -> Outcome:
        return self.client.executor.outcome(self.id).result(timeout)

    def __repr__(self) -> str:
        return f"Handle({self.id!r})"


class Toolpod:
    def __init__(self, executor: Executor, workers: int = 32) -> None:
        self.executor = executor
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="toolpod-api")

    @classmethod
    def kubernetes(cls, settings: Settings | None = None, **options: Any) -> Toolpod:
        return cls(build("kubernetes", settings=settings, **options))

    @classmethod
    def local(cls, **options: Any) -> Toolpod:
        return cls(build("local", **options))

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    # -- asyncio ------------------------------------------------------------------------------

    async def submit(self, invocation: InvocationLike) -> Handle:
        inv = parse(invocation)
        return Handle(self, await self._call(self.executor.submit, inv))

    async def run(self, invocation: InvocationLike, timeout: float | None = None) -> Outcome:
        handle = await self.submit(invocation)
        return await handle.result(timeout)

    def handle(self, inv_id: str) -> Handle:
        """Attach to an invocation by id (e.g. one submitted before a restart)."""
        return Handle(self, inv_id)

    async def get(self, inv_id: str) -> Outcome | None:
        return await self._call(self.executor.get, names.invocation_id(inv_id))

    async def cancel(self, inv_id: str) -> Outcome:
        return await self._call(self.executor.cancel, names.invocation_id(inv_id))

    async def list(self) -> list[dict[str, Any]]:
        return await self._call(self.executor.list)

    async def logs(self, inv_id: str) -> str:
        return await self._call(self.executor.logs, names.invocation_id(inv_id))

    # -- blocking twins -----------------------------------------------------------------------

    def submit_sync(self, invocation: InvocationLike) -> Handle:
        return Handle(self, self.executor.submit(parse(invocation)))

    def run_sync(self, invocation: InvocationLike, timeout: float | None = None) -> Outcome:
        return self.submit_sync(invocation).result_sync(timeout)

    def get_sync(self, inv_id: str) -> Outcome | None:
        return self.executor.get(names.invocation_id(inv_id))

    def cancel_sync(self, inv_id: str) -> Outcome:
        return self.executor.cancel(names.invocation_id(inv_id))

    def list_sync(self) -> builtins.list[dict[str, Any]]:
        return self.executor.list()

    def logs_sync(self, inv_id: str) -> str:
        return self.executor.logs(names.invocation_id(inv_id))

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        self.executor.close()
        self._pool.shutdown(wait=False)

    def __enter__(self) -> Toolpod:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Toolpod:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
