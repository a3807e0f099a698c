"""One list-then-watch loop per resource kind and namespace, shared by every invocation.

    list ──▶ replace(items) ──▶ watch from the list's resourceVersion ──▶ event(type, obj) ...
      ▲                                    │ stream ends (server timeout): watch again from
      │                                    │ the last resourceVersion seen (bookmarks count)
      └── 410 Gone: re-list at once ◀──────┤
          transient error: back off, then re-list (capped exponential, reset on success)

The loop takes its I/O as two functions and its sleep as a third, so it runs unit-tested with
scripted events; ``controller.k8s`` supplies the real ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger("toolpod.controller")

Obj = dict[str, Any]
ListFn = Callable[[], tuple[list[Obj], str]]
WatchFn = Callable[[str], Iterable[Obj]]


class Relist(Exception):
    """The resourceVersion is too old (HTTP 410): only a fresh list helps."""


class Transient(Exception):
    """Worth retrying after a pause: connection reset, 5xx, 429, timeouts."""


@dataclass
class Handlers:
    replace: Callable[[list[Obj]], None]
    event: Callable[[str, Obj], None]


@dataclass
class Informer:
    name: str
    list_fn: ListFn
    watch_fn: WatchFn
    handlers: Handlers
    sleep: Callable[[float], None] = time.sleep
    backoff_s: tuple[float, float] = (0.2, 10.0)
    synced: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    #: The last failure to list or watch (its ``__cause__`` the client's error); None after a
    #: successful list.
    last_error: Exception | None = None
    #: Failures since the last successful list.
    failures: int = 0

    def run(self) -> None:
        """Until ``stop`` is set: list, then watch; recover from 410 and transient errors."""
        delay = self.backoff_s[0]
        while not self.stop.is_set():
            try:
                rv = self._list()
                delay = self.backoff_s[0]
                self._watch(rv)
            except Relist:
                logger.debug("%s: resourceVersion expired, re-listing", self.name)
            except Transient as e:
                self.last_error, self.failures = e, self.failures + 1
                if self.stop.is_set():
                    return
                logger.warning("%s: %s; retrying in %.1fs", self.name, e, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.backoff_s[1])

    def _list(self) -> str:
        items, rv = self.list_fn()
        self.last_error, self.failures = None, 0
        self.handlers.replace(items)
        self.synced.set()
        return rv

    def _watch(self, rv: str) -> None:
        while not self.stop.is_set():
            for ev in self.watch_fn(rv):
                if self.stop.is_set():
                    return
                rv = self._handle(ev, rv)

    def _handle(self, ev: Obj, rv: str) -> str:
        kind, obj = ev.get("type"), ev.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Relist()
            raise Transient(f"watch error {obj.get('code')}: {obj.get('message')}")
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.handlers.event(str(kind), obj)
        return new_rv  # BOOKMARK only moves the resourceVersion on

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name=f"toolpod-watch-{self.name}", daemon=True)
        t.start()
        return t
