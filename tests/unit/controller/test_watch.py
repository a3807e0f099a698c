"""The list-then-watch loop with scripted lists and event streams (no API server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controller.watch import Handlers, Informer, Transient


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


class Script:
    """Lists and watch streams played back in order; records what the informer asked for."""

    def __init__(self, lists: list[Any], watches: list[Any]) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str] = []
        self.replaced: list[list[str]] = []
        self.events: list[tuple[str, str]] = []
        self.sleeps: list[float] = []
        self.informer: Informer

    def list_fn(self) -> tuple[list[dict[str, Any]], str]:
        step = self.lists.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def watch_fn(self, rv: str) -> Iterator[dict[str, Any]]:
        self.watched_from.append(rv)
        if not self.watches:
            self.informer.stop.set()
            return
        step = self.watches.pop(0)
        if isinstance(step, Exception):
            raise step
        yield from step

    def run(self) -> Script:
        self.informer = Informer(
            name="test",
            list_fn=self.list_fn,
            watch_fn=self.watch_fn,
            handlers=Handlers(
                lambda items: self.replaced.append([i["metadata"]["name"] for i in items]),
                lambda t, o: self.events.append((t, o["metadata"]["name"])),
            ),
            sleep=self.sleeps.append,
        )
        self.informer.run()
        return self


def test_lists_first_then_watches_from_the_lists_resource_version() -> None:
    s = Script([([obj("a", "5")], "10")], [[{"type": "ADDED", "object": obj("b", "11")}]]).run()
    assert s.replaced == [["a"]]
    assert s.informer.synced.is_set()
    assert s.watched_from[0] == "10"
    assert s.events == [("ADDED", "b")]


def test_a_closed_stream_resumes_from_the_last_version_seen_bookmarks_included() -> None:
    s = Script(
        [([], "10")],
        [
            [{"type": "ADDED", "object": obj("b", "11")}],
            [{"type": "BOOKMARK", "object": obj("", "15")}],
        ],
    ).run()
    assert s.watched_from == ["10", "11", "15"]
    assert s.events == [("ADDED", "b")]  # bookmarks are not events


def test_410_gone_relists_without_backoff() -> None:
    s = Script(
        [([], "10"), ([obj("c", "30")], "30")],
        [[{"type": "ERROR", "object": {"code": 410, "message": "too old"}}], []],
    ).run()
    assert s.replaced == [[], ["c"]]
    assert s.watched_from[:2] == ["10", "30"]
    assert s.sleeps == []


def test_transient_errors_back_off_exponentially_then_reset() -> None:
    s = Script(
        [Transient("503"), Transient("503"), ([], "1"), ([], "2")],
        [Transient("reset"), []],
    ).run()
    assert s.sleeps == [0.2, 0.4, 0.2]
    assert s.replaced == [[], []]


def test_watch_error_events_other_than_410_are_transient() -> None:
    s = Script(
        [([], "1"), ([], "2")],
        [[{"type": "ERROR", "object": {"code": 500, "message": "boom"}}], []],
    ).run()
    assert s.sleeps == [0.2]
    assert s.watched_from[:2] == ["1", "2"]
