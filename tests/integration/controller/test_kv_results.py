"""The controller's NATS KV result watchers (``controller.kv_results``) against a real
nats-server: what they deliver, in what order, across a server restart, and with a bad
credential. The Kubernetes side (Secrets, Jobs) is in tests/cluster/test_controller_nats.py."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from controller import kv_results
from controller.kv_results import KvWatchers
from runner.errors import NotFoundError
from runner.natsconn import NatsTarget
from tests.fixtures._process import start, stop, wait_ready
from tests.fixtures.nats import Nats, NatsServer, _probe, nats_bin_dir, start_nats


class Seen:
    """What a watcher delivered, with a way to wait for a value."""

    def __init__(self) -> None:
        self.values: list[tuple[str, str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, bucket: str, key: str, text: str) -> None:
        with self._cond:
            self.values.append((bucket, key, text))
            self._cond.notify_all()

    def wait_for(self, item: tuple[str, str, str], timeout: float = 10) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: item in self.values, timeout), self.values


def target_of(server: NatsServer) -> Callable[[str], NatsTarget]:
    return lambda _alias: NatsTarget(server.url, user=server.user, password=server.password)


def put(server: NatsServer, bucket: str, key: str, value: str) -> None:
    async def go(js: Any) -> None:
        await (await js.key_value(bucket)).put(key, value.encode())

    server.run(go)


@pytest.fixture
def watchers() -> Iterator[Callable[..., tuple[KvWatchers, Seen]]]:
    made: list[KvWatchers] = []

    def make(credential: Callable[[str], NatsTarget]) -> tuple[KvWatchers, Seen]:
        seen = Seen()
        w = KvWatchers(credential, seen, backoff_s=(0.1, 0.5))
        made.append(w)
        return w, seen

    yield make
    for w in made:
        w.stop()


def test_one_watcher_delivers_what_was_there_and_every_later_write_in_order(
    nats: Nats, watchers: Callable[..., tuple[KvWatchers, Seen]]
) -> None:
    bucket = nats.kv_bucket()
    put(nats.server, bucket, "done-before", '{"n":0}')
    w, seen = watchers(target_of(nats.server))
    w.ensure(bucket, "nats_main")
    w.ensure(bucket, "nats_main")  # every Job writing there asks; one watcher serves them all
    assert w.synced[(bucket, "nats_main")].wait(10)
    seen.wait_for((bucket, "done-before", '{"n":0}'))
    put(nats.server, bucket, "inv", '{"acked":false}')
    put(nats.server, bucket, "inv", '{"acked":true}')
    seen.wait_for((bucket, "inv", '{"acked":true}'))
    ours = [text for _b, key, text in seen.values if key == "inv"]
    assert ours == ['{"acked":false}', '{"acked":true}']
    assert list(w.synced) == [(bucket, "nats_main")]


def test_the_watch_comes_back_after_a_server_restart(
    tmp_path: Path, watchers: Callable[..., tuple[KvWatchers, Seen]]
) -> None:
    proc, server = start_nats(tmp_path)
    try:
        server.run(lambda js: js.create_key_value(bucket="results"))
        w, seen = watchers(target_of(server))
        w.ensure("results", "nats_main")
        assert w.synced[("results", "nats_main")].wait(10)
        stop(proc)
        # the server is down: the watcher retries; the result written once it is back arrives
        time.sleep(0.5)
        proc = start([str(nats_bin_dir() / "nats-server"), "-c", str(tmp_path / "nats.conf")], server.log)
        wait_ready(proc, _probe(server), 30, "nats-server", server.log)
        put(server, "results", "after-restart", "{}")
        seen.wait_for(("results", "after-restart", "{}"), timeout=20)
    finally:
        stop(proc)


def test_a_rejected_credential_is_retried_and_never_logged(
    nats: Nats, watchers: Callable[..., tuple[KvWatchers, Seen]], caplog: pytest.LogCaptureFixture
) -> None:
    bucket = nats.kv_bucket()
    wrong = NatsTarget(nats.server.url, user="toolpod", password="not-the-password")
    w, _seen = watchers(lambda _alias: wrong)
    with caplog.at_level(logging.WARNING, logger="toolpod.controller"):
        w.ensure(bucket, "nats_main")
        deadline = time.monotonic() + 10
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) >= 2, "the watcher retries after a refusal"
    assert f"watching results in KV bucket '{bucket}'" in messages[0]
    assert "rejected the credentials" in messages[0]
    assert not any("not-the-password" in m for m in messages)
    assert not w.synced[(bucket, "nats_main")].is_set()


def test_a_direct_read_gives_the_value_none_or_a_clear_error(nats: Nats) -> None:
    bucket = nats.kv_bucket()
    put(nats.server, bucket, "inv", '{"status":"success"}')
    credential = target_of(nats.server)
    assert kv_results.read(credential, bucket, "nats_main", "inv") == '{"status":"success"}'
    assert kv_results.read(credential, bucket, "nats_main", "absent") is None
    with pytest.raises(NotFoundError, match="bucket not found"):
        kv_results.read(credential, "no_such_bucket", "nats_main", "inv")


def test_a_direct_read_runs_on_the_watchers_loop_once_it_runs(
    nats: Nats, watchers: Callable[..., tuple[KvWatchers, Seen]]
) -> None:
    bucket = nats.kv_bucket()
    put(nats.server, bucket, "inv", '{"status":"success"}')
    w, _seen = watchers(target_of(nats.server))
    assert w.read(bucket, "nats_main", "inv") == '{"status":"success"}'  # no loop yet: its own
    w.ensure(bucket, "nats_main")
    assert w.synced[(bucket, "nats_main")].wait(10)
    assert w.read(bucket, "nats_main", "inv") == '{"status":"success"}'
    assert w.read(bucket, "nats_main", "absent") is None
    with pytest.raises(NotFoundError, match="bucket not found"):
        w.read("no_such_bucket", "nats_main", "inv")


def test_a_result_can_wait_for_a_starting_watcher_to_deliver_what_is_there(
    nats: Nats, watchers: Callable[..., tuple[KvWatchers, Seen]]
) -> None:
    bucket = nats.kv_bucket()
    key = (bucket, "nats_main")
    put(nats.server, bucket, "finished-while-no-controller-ran", "{}")
    gate = threading.Event()

    def slow_credential(alias: str) -> NatsTarget:
        gate.wait(10)  # reading the Secret and connecting take a moment after a restart
        return target_of(nats.server)(alias)

    w, seen = watchers(slow_credential)
    assert not w.wait_synced(key, 0.1), "no watcher runs yet"
    w.ensure(bucket, "nats_main")
    threading.Timer(0.2, gate.set).start()
    assert w.wait_synced(key, 10)
    assert (bucket, "finished-while-no-controller-ran", "{}") in seen.values
    assert not w.wait_synced(key, 0.1), "synced already: the caller reads for itself"
