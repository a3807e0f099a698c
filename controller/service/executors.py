"""The service's executors: one ``KubernetesExecutor`` per namespace it serves, made lazily
(all sharing one API client); beyond ``max_namespaces`` the least recently used one without
in-flight invocations is closed (on the thread pool: closing joins its watch threads)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.executors.kubernetes import KubernetesExecutor
from controller.service.config import ServeConfig


class Executors:
    def __init__(
        self,
        config: ServeConfig,
        client: Any,
        pool: ThreadPoolExecutor,
        busy: Callable[[], set[str]],
    ) -> None:
        self.config, self.client, self.pool, self.busy = config, client, pool, busy
        self._by_ns: OrderedDict[str, KubernetesExecutor] = OrderedDict()

    def get(self, ns: str) -> KubernetesExecutor:
        ex = self._by_ns.get(ns)
        if ex is None:
            settings = self.config.settings.with_(namespace=ns)
            ex = self._by_ns[ns] = KubernetesExecutor(settings, client=self.client)
            self._evict()
        self._by_ns.move_to_end(ns)
        return ex

    def _evict(self) -> None:
        busy = self.busy()
        idle = [ns for ns in self._by_ns if ns not in busy]
        while len(self._by_ns) > self.config.max_namespaces and idle:
            self.pool.submit(self._by_ns.pop(idle.pop(0)).close)

    def synced(self) -> bool:
        """Every namespace's watches have listed (never blocks)."""
        trackers = [ex._tracker for ex in self._by_ns.values() if ex._tracker is not None]
        return all(inf.synced.is_set() for t in trackers for inf in t.informers)

    def close(self) -> None:
        for ex in self._by_ns.values():
            ex.close()
