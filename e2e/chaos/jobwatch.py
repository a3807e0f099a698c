"""An independent witness of backpressure: a watch on the run namespace's toolpod Jobs that
records the most that existed at once, as the API server saw them (ADDED adds one, DELETED
removes it; a re-list after a broken watch replaces the set).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

JOBS = "app.kubernetes.io/name=toolpod"


class JobCeiling:
    def __init__(self, namespace: str) -> None:
        # The client is untyped where this uses it: held as Any.
        k8s: Any = importlib.import_module("kubernetes")
        self.ns, self._watch = namespace, k8s.watch.Watch
        self.batch: Any = k8s.client.BatchV1Api(k8s.config.new_client_from_config())
        self.live: set[str] = set()
        self.most = 0
        #: The Jobs there at the first moment ``most`` was reached (whose they were, when a
        #: run exceeds the cap: the names carry the seed and the suite).
        self.peak: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="job-ceiling")

    def start(self) -> JobCeiling:
        self.thread.start()
        return self

    def close(self) -> int:
        self.stop.set()
        self.thread.join(timeout=40)
        return self.most

    def _note(self) -> None:
        if len(self.live) > self.most:
            self.most, self.peak = len(self.live), sorted(self.live)

    def _relist(self) -> str:
        jobs = self.batch.list_namespaced_job(self.ns, label_selector=JOBS)
        self.live = {j.metadata.name for j in jobs.items}
        self._note()
        return str(jobs.metadata.resource_version)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                version = self._relist()
                stream = self._watch().stream(
                    self.batch.list_namespaced_job,
                    self.ns,
                    label_selector=JOBS,
                    resource_version=version,
                    timeout_seconds=20,
                )
                for event in stream:
                    self._apply(event)
                    if self.stop.is_set():
                        break
            except Exception:  # a broken watch: list again and go on
                self.stop.wait(1)

    def _apply(self, event: dict[str, Any]) -> None:
        name = event["object"].metadata.name
        if event["type"] == "DELETED":
            self.live.discard(name)
        elif event["type"] == "ADDED":
            self.live.add(name)
        self._note()
