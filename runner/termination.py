"""SIGTERM and SIGINT: stop the invocation at once, except where stopping would make it lie.

The CLI turns either signal into a cancellation of its one task (``install``): a blocked fetch
or a blocked print ends, the executor hands fetched messages back, and the runner exits 143
(SIGTERM) or 130 (SIGINT) — never click's "Aborted!" with exit 1.

One cancel is not enough. Python 3.11's ``asyncio.wait_for`` drops a cancel that meets the
awaited reply completing in the same loop iteration (fixed in 3.12; nats-py awaits every request
through it), and the invocation would then run to its end with the signal ignored. So the
signal cancels the task again every ``RECANCEL_S`` until the task acknowledges it: the first
cleanup that sees the ``CancelledError`` (``acknowledging``) says so, and from then on nothing
interrupts the cleanups (releasing a batch, closing a consumer, purging chunks).

One section must not be cut: the ack of messages whose result is already written, and the
rewrite that records it (``shielded``). A stdout result says ``acked: true`` before the ack
happens; cancelled half-way, some messages would be acked and the exit code could not say which.
A signal that arrives inside the section lets it finish — the ack is bounded by the client's own
timeouts — and the invocation then ends with the result it wrote: only reporting is left. A
signal that arrived before the section, whose cancel was dropped, stops the task at the
section's entry: no ack starts after a signal.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

#: 128 + the signal's number, what a shell reports for a process the signal ended.
EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}
#: Seconds between cancels of a task that has not acknowledged the signal yet.
RECANCEL_S = 0.05


class _State:
    task: asyncio.Task[object] | None = None
    received: signal.Signals | None = None
    acknowledged: bool = False
    holds: int = 0


_state = _State()


def install(task: asyncio.Task[object]) -> None:
    """Route SIGTERM and SIGINT to ``task``. In a container the runner is PID 1, which ignores
    SIGTERM unless it handles it: cancel and eviction would wait out the grace period."""
    _state.task, _state.received, _state.acknowledged, _state.holds = task, None, False, 0
    loop = asyncio.get_running_loop()
    for signum in EXIT_CODES:
        loop.add_signal_handler(signum, _on_signal, signum)


def received() -> signal.Signals | None:
    """The signal that stopped (or is about to stop) the invocation, if any."""
    return _state.received


def _on_signal(signum: signal.Signals) -> None:
    first = _state.received is None
    if first:
        _state.received = signum
    if first and _state.holds == 0:
        _cancel()


def _cancel() -> None:
    """Cancel the task, and again after ``RECANCEL_S`` until it acknowledges or is done."""
    task = _state.task
    if task is None or task.done() or _state.acknowledged or _state.holds:
        return  # ended, cleaning up, or acking: a signal inside the section lets it finish
    task.cancel()
    task.get_loop().call_later(RECANCEL_S, _cancel)


@contextmanager
def acknowledging() -> Iterator[None]:
    """Around work whose cleanup must not be cut: a ``CancelledError`` leaving it is the
    signal's cancel, seen — no more cancels follow (the cleanup runs in ``finally`` or
    ``except`` outside this block)."""
    try:
        yield
    except asyncio.CancelledError:
        # A deadline_s timeout cancels too: only a cancel after the signal acknowledges it.
        if _state.received is not None:
            _state.acknowledged = True
        raise


@contextmanager
def shielded() -> Iterator[None]:
    """The section runs to its end whatever signal arrives (see the module docstring); a task
    whose signal's cancel was dropped stops here instead of entering it."""
    if _state.received is not None and not _state.acknowledged:
        _state.acknowledged = True
        raise asyncio.CancelledError
    _state.holds += 1
    try:
        yield
    finally:
        _state.holds -= 1
