"""The review cache: one computation per key however many ask at once; answers expire; a
failed computation is not cached (the next asker tries again)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from controller.service.auth import TtlCache


def test_a_burst_of_askers_computes_once() -> None:
    cache, calls, gate = TtlCache(10), [], threading.Event()

    def compute() -> str:
        calls.append(1)
        gate.wait(5)
        return "caller"

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(cache.get, "token-digest", compute) for _ in range(20)]
        time.sleep(0.2)
        gate.set()
        assert {f.result() for f in futures} == {"caller"}
    assert len(calls) == 1


def test_answers_expire() -> None:
    cache, calls = TtlCache(0.05), []
    for _ in range(2):
        cache.get("k", lambda: calls.append(1))
    time.sleep(0.1)
    cache.get("k", lambda: calls.append(1))
    assert len(calls) == 2


def test_a_failure_is_not_remembered() -> None:
    cache = TtlCache(10)

    def boom() -> str:
        raise RuntimeError("API server down")

    with pytest.raises(RuntimeError):
        cache.get("k", boom)
    assert cache.get("k", lambda: "ok") == "ok"
