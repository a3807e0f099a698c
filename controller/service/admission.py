"""Backpressure (docs/service.md): at most ``max_in_flight`` invocations with a Job at once per
service, then a FIFO queue of up to ``max_queued`` (phase Queued, no Job yet), then 429.

Pure bookkeeping, no I/O and no locks: the service calls it from its one event loop only.

    reserve()  -> RUN      a slot is free and nobody queues: start now
               -> QUEUE    wait in line (``enqueue`` the item once its record exists)
               -> None     full: 429
    done()     -> the next queued item to start (its slot handed over), or None
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from enum import Enum
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Slot(Enum):
    RUN = "run"
    QUEUE = "queue"


class Admission(Generic[K, V]):
    def __init__(self, max_in_flight: int, max_queued: int) -> None:
        self.max_in_flight, self.max_queued = max_in_flight, max_queued
        self.in_flight = 0
        #: Reserved queue places whose item is not enqueued yet (its record is being made).
        self._reserved_queue = 0
        self._queue: OrderedDict[K, V] = OrderedDict()

    @property
    def queued(self) -> int:
        return len(self._queue) + self._reserved_queue

    def reserve(self) -> Slot | None:
        if self.in_flight < self.max_in_flight and self.queued == 0:
            self.in_flight += 1
            return Slot.RUN
        if self.queued < self.max_queued:
            self._reserved_queue += 1
            return Slot.QUEUE
        return None

    def release(self, slot: Slot) -> None:
        """Give back a reservation that was not used (the id existed already)."""
        if slot is Slot.RUN:
            self.in_flight -= 1
        else:
            self._reserved_queue -= 1

    def enqueue(self, key: K, item: V) -> None:
        self._reserved_queue -= 1
        self._queue[key] = item

    def adopt(self) -> None:
        """Count an invocation found running (after a restart) against the cap."""
        self.in_flight += 1

    def done(self) -> tuple[K, V] | None:
        """One invocation finished: its slot goes to the oldest queued item, if any."""
        if self._queue:
            return self._queue.popitem(last=False)
        self.in_flight -= 1
        return None

    def take_free(self) -> tuple[K, V] | None:
        """The oldest queued item when a slot is free (a queue that formed while items were
        still being enqueued): the caller starts it."""
        if self._queue and self.in_flight < self.max_in_flight:
            self.in_flight += 1
            return self._queue.popitem(last=False)
        return None

    def cancel(self, key: K) -> bool:
        """Drop a queued item (it never gets a Job); False when it is not queued."""
        return self._queue.pop(key, None) is not None

    def is_queued(self, key: K) -> bool:
        return key in self._queue

    def queued_keys(self) -> list[K]:
        """The queued items' keys, oldest first (a copy)."""
        return list(self._queue)
