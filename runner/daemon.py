"""Blocking calls that may never return (a write to a pipe nobody reads, a commit to a frozen
Kafka coordinator), run where the runner can give up on them and still exit.

``asyncio.to_thread`` uses the loop's default executor, and ``asyncio.run`` waits for its
threads when it finishes: one call stuck for good keeps the process alive for good. A daemon
thread does not hold the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a daemon thread; cancelling the await abandons the call."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except BaseException as e:  # handed to the awaiting task, whatever it is
            outcome = (False, e)
        with contextlib.suppress(RuntimeError):  # the loop is gone: the runner is exiting
            loop.call_soon_threadsafe(_settle, done, outcome)

    threading.Thread(target=run, daemon=True).start()
    return await done


def _settle(done: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if done.done():  # given up on: nobody waits for this outcome
        return
    ok, value = outcome
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)
