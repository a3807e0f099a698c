"""The signal's cancel against Python 3.11's ``asyncio.wait_for``, which drops a cancel that meets
the awaited reply completing in the same loop iteration (nats-py awaits every request through
it). Each case drives that race exactly: one callback completes the reply and delivers the
signal, before the waiting task wakes — deterministic, no timing involved.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import pytest

from runner import termination

Then = Callable[[list[str]], Awaitable[None]]


async def _race(then: Then, race: bool) -> tuple[bool, list[str]]:
    """Run a task that awaits a reply through wait_for; complete the reply and (``race``)
    deliver SIGTERM in the same callback; the task then does ``then``. Returns (cancelled,
    what the task did)."""
    done: list[str] = []
    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def invocation() -> None:
        await asyncio.wait_for(reply, timeout=30)
        done.append("reply")
        await then(done)
        done.append("finished")

    task = asyncio.ensure_future(invocation())
    termination._state.task, termination._state.received = task, None  # type: ignore[assignment]
    termination._state.acknowledged, termination._state.holds = False, 0
    await asyncio.sleep(0)  # the task waits in wait_for

    def complete() -> None:
        reply.set_result("ok")
        if race:
            termination._on_signal(signal.SIGTERM)

    asyncio.get_running_loop().call_soon(complete)
    try:
        async with asyncio.timeout(5):
            await task
    except asyncio.CancelledError:
        return True, done
    return False, done


async def _long_fetch(done: list[str]) -> None:
    await asyncio.sleep(2)  # a fetch that waits out its timeout_ms
    done.append("fetched")


async def _ack(done: list[str]) -> None:
    with termination.shielded():
        await asyncio.sleep(0.2)  # several RECANCEL_S: the section is not cut
        done.append("acked")


async def _fetch_then_release(done: list[str]) -> None:
    try:
        with termination.acknowledging():
            await asyncio.sleep(2)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)  # the release: several RECANCEL_S, not cut
        done.append("released")
        raise


async def _signal_inside_the_ack(done: list[str]) -> None:
    with termination.shielded():
        termination._on_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        done.append("acked")
    await asyncio.sleep(0.2)  # reporting: no cancel follows a signal the section absorbed


CASES = [
    # what the task does after the reply    race   cancelled  what it did
    pytest.param(_long_fetch,            True,  True,  ["reply"],                      id="a-later-wait-is-cancelled"),
    pytest.param(_ack,                   True,  True,  ["reply"],                      id="the-ack-section-is-never-entered"),
    pytest.param(_fetch_then_release,    True,  True,  ["reply", "released"],          id="the-cleanup-after-the-cancel-runs-to-its-end"),
    pytest.param(_signal_inside_the_ack, False, False, ["reply", "acked", "finished"], id="a-signal-inside-the-ack-lets-it-finish"),
]


@pytest.mark.parametrize(("then", "race", "cancelled", "did"), CASES)
def test_a_dropped_cancel_is_repeated_until_the_task_acknowledges_it(
    then: Then, race: bool, cancelled: bool, did: list[str]
) -> None:
    assert asyncio.run(_race(then, race)) == (cancelled, did)


def test_wait_for_still_drops_the_cancel_this_module_repeats() -> None:
    """The race is real on this Python: one cancel alone is lost (3.12 fixed wait_for)."""

    async def one_cancel() -> bool:
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(asyncio.wait_for(reply, timeout=30))
        await asyncio.sleep(0)
        reply.set_result("ok")
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(one_cancel()) is False
