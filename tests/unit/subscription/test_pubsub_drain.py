"""The Pub/Sub drain loop (docs/reference.md §3 rules 2-4) with scripted pull replies and an injected clock.

The transport is replaced by a script of replies (what the server would hand out per pull), so
the loop's decisions — how much to ask for, when to stop, what to hand back — read as a table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from runner.sources.base import DisposeOutcome, Disposition, Message, PollOptions
from runner.sources.pubsub import PubsubSource, PubsubTarget


def _messages(n: int, start: int = 0) -> list[Message]:
    return [Message(str(i), {}, {}, {}, {}, handle=f"ack-{i}") for i in range(start, start + n)]


class ScriptedSource(PubsubSource):
    """A PubsubSource whose pulls return scripted batches; records pulls and disposals."""

    def __init__(self, replies: list[int], tick_s: float = 0.0, emulator: bool = False) -> None:
        self.now = 0.0
        target = (
            PubsubTarget("http://127.0.0.1:1/v1", None, True)
            if emulator
            else PubsubTarget("https://pubsub.example/v1", "token", False)
        )
        super().__init__(target, "projects/p/subscriptions/s", clock=self._clock_tick)
        self.tick_s, self.replies = tick_s, replies
        self.pulls: list[tuple[int, float | None]] = []
        self.released: list[str] = []
        self._next = 0

    def _clock_tick(self) -> float:
        self.now += self.tick_s
        return self.now

    async def _pull(self, max_messages: int, wait_s: float | None) -> list[Message]:
        self.pulls.append((max_messages, wait_s))
        n = self.replies.pop(0) if self.replies else 0
        batch = _messages(n, self._next)
        self._next += n
        return batch

    async def dispose(
        self, handles: Sequence[str], disposition: Disposition, *, delay_ms: int = 0
    ) -> DisposeOutcome:
        assert disposition == "nack"
        self.released += handles
        return DisposeOutcome(len(handles), len(handles))


@pytest.mark.parametrize(
    ("replies", "batch", "returned", "pulls", "released"),
    [
        pytest.param([0], 100, 0, [(100, 1.0)], 0, id="empty: one pull waiting timeout_ms"),
        pytest.param(
            [5, 0], 100, 5, [(100, 1.0), (95, None)], 0, id="k ready: stop at an empty pull"
        ),
        pytest.param([100, 50, 0], 100, 100, [(100, 1.0)], 0, id="batch reached: no more pulls"),
        pytest.param(
            [100, 100, 50],
            250,
            250,
            [(250, 1.0), (150, None), (50, None)],
            0,
            id="emulator's 100 per pull: pull until batch",
        ),
        pytest.param([30, 30], 40, 40, [(40, 1.0), (10, None)], 20, id="surplus handed back"),
    ],
)
def test_drain_loop(
    replies: list[int],
    batch: int,
    returned: int,
    pulls: list[tuple[int, float | None]],
    released: int,
) -> None:
    source = ScriptedSource(replies)
    got = asyncio.run(source.poll(PollOptions(batch=batch, timeout_ms=1000)))
    assert len(got) == returned
    assert source.pulls == pulls
    assert len(source.released) == released
    assert not {m.handle for m in got} & set(source.released), "returned and released: never both"


def test_trailing_pulls_stop_at_the_cap() -> None:
    """One message per pull forever: the loop stops once the trailing cap has passed."""
    source = ScriptedSource([1] * 1000, tick_s=0.5)
    got = asyncio.run(source.poll(PollOptions(batch=1000, timeout_ms=1000)))
    assert 1 < len(got) < 20


@pytest.mark.parametrize(
    ("replies", "returned", "pulls"),
    [
        pytest.param(
            [0] * 100, 0, 10, id="empty: immediate pulls until timeout_ms, none left waiting"
        ),
        pytest.param([0, 0, 3, 0], 3, 4, id="k arrive: taken at the next pull, then what is ready"),
    ],
)
def test_against_the_emulator_no_pull_is_left_outstanding(
    replies: list[int], returned: int, pulls: int
) -> None:
    """The emulator keeps a blocking pull given up by its client, and that pull captures the next
    messages published: against it the wait for the first messages is immediate pulls only."""
    source = ScriptedSource(replies, tick_s=0.1, emulator=True)
    got = asyncio.run(source.poll(PollOptions(batch=100, timeout_ms=1000)))
    assert len(got) == returned
    assert all(wait is None for _, wait in source.pulls), "returnImmediately only"
    assert len(source.pulls) == pulls
