"""SIGTERM and SIGINT: stop the invocation at once, except where stopping would make it lie.

The CLI turns either signal into a cancellation of its one task (``install``): a blocked fetch
or a blocked print ends, the executor hands fetched messages back, and the runner exits 143
(SIGTERM) or 130 (SIGINT) — never click's "Aborted!" with exit 1.

One section must not be cut: the ack of messages whose result is already written, and the
rewrite that records it (``shielded``). A stdout result says ``acked: true`` before the ack
happens; cancelled half-way, some messages would be acked and the exit code could not say which.
A signal that arrives inside the section lets it finish — the ack is bounded by the client's own
timeouts — and the invocation then ends with the result it wrote: only reporting is left.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager

#: 128 + the signal's number, what a shell reports for a process the signal ended.
EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


class _State:
    task: asyncio.Task[object] | None = None
    received: signal.Signals | None = None
    holds: int = 0


_state = _State()


def install(task: asyncio.Task[object]) -> None:
    """Route SIGTERM and SIGINT to ``task``. In a container the runner is PID 1, which ignores
    SIGTERM unless it handles it: cancel and eviction would wait out the grace period."""
    _state.task, _state.received, _state.holds = task, None, 0
    loop = asyncio.get_running_loop()
    for signum in EXIT_CODES:
        loop.add_signal_handler(signum, _on_signal, signum)


def received() -> signal.Signals | None:
    """The signal that stopped (or is about to stop) the invocation, if any."""
    return _state.received


def _on_signal(signum: signal.Signals) -> None:
    if _state.received is None:
        _state.received = signum
    if _state.holds == 0 and _state.task is not None:
        _state.task.cancel()


@contextmanager
def shielded() -> Iterator[None]:
    """The section runs to its end whatever signal arrives (see the module docstring)."""
    _state.holds += 1
    try:
        yield
    finally:
        _state.holds -= 1
