"""What the shared watches of one namespace know, per invocation, and who is waiting for it.

Three informers (``controller.watch``), each one list-then-watch stream for *all* invocations
of the namespace: runner Jobs, their Pods (image pull failures, exit codes, termination
messages: the Job's status has none of them) and result ConfigMaps; plus one watcher per NATS
KV result bucket (``controller.kv_results``), started the first time a Job writing there is
seen. Every event updates the invocation's ``Observed`` and re-runs the pure
``outcome.decide`` for it when someone waits. No per-invocation polling; nothing is lost
across a controller restart because all of it is re-read by the first list (and a KV watch
starts with the last value of every key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from controller import labels as L
from controller.outcome import NeedResultRead, Observed, Outcome, decide, kv_sink_of, name_of
from controller.watch import Handlers, Informer

Obj = dict[str, Any]
Decision = Outcome | NeedResultRead
ListFactory = Callable[[str, str, str], Any]


def _id(obj: Obj) -> str | None:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(L.INVOCATION)


def _uid(obj: Obj | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("uid")


class Tracker:
    def __init__(
        self,
        informer: Callable[[str, str, str, Handlers], Informer],
        kv_bucket_seen: Callable[[str, str], None] | None = None,
    ) -> None:
        """``informer(api_version, kind, selector, handlers)`` builds one watch loop;
        ``kv_bucket_seen(bucket, alias)`` hears of every Job whose result goes to NATS KV (it
        must not block: it is called with the lock held)."""
        self._kv_bucket_seen = kv_bucket_seen
        self._lock = threading.Lock()
        self._obs: dict[str, Observed] = {}
        self._waiters: dict[str, list[tuple[str | None, Future[Decision]]]] = {}
        self._gone: dict[str, list[Future[None]]] = {}
        self.informers = [
            informer("batch/v1", "Job", L.RUNNERS, Handlers(self._replace_jobs, self._job)),
            informer("v1", "Pod", L.RUNNERS, Handlers(self._replace_pods, self._pod)),
            informer("v1", "ConfigMap", L.RESULTS, Handlers(self._replace_cms, self._cm)),
        ]

    def start(self) -> None:
        for inf in self.informers:
            inf.start()

    def wait_synced(self, timeout: float, attempts: int = 5) -> Exception | None:
        """None once every watch has listed; else why not: at once when a list was refused
        for good (403, 401...), after ``attempts`` failed lists in a row (the API server
        refuses connections), or after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not all(inf.synced.wait(0.02) for inf in self.informers):
            problem = self._problem(attempts)
            if problem is not None:
                return problem
            if time.monotonic() >= deadline:
                return self._problem(0) or TimeoutError("no answer")
        return None

    def _problem(self, attempts: int) -> Exception | None:
        """A list's error worth reporting now: the client's (the cause) when it says
        ``transient = False``, or when it recurred ``attempts`` times."""
        for inf in self.informers:
            error = inf.last_error
            if error is None:
                continue
            cause = error.__cause__ if isinstance(error.__cause__, Exception) else error
            if getattr(cause, "transient", True) is False or inf.failures >= attempts:
                return cause
        return None

    def stop(self) -> None:
        for inf in self.informers:
            inf.stop.set()

    # -- queries ---------------------------------------------------------------------------

    def watch(self, inv_id: str, uid: str | None = None) -> Future[Decision]:
        """A future resolved with the first decision for ``inv_id`` (maybe at once). With
        ``uid`` only that Job counts: an earlier Job under the same id (deleted, still in
        this process's memory) must not answer for the one just created."""
        fut: Future[Decision] = Future()
        with self._lock:
            self._waiters.setdefault(inv_id, []).append((uid, fut))
            self._evaluate(inv_id)
        return fut

    def gone(self, inv_id: str) -> Future[None]:
        """A future resolved once the watches hold no Job, Pod or result ConfigMap of
        ``inv_id``: not only is its Job deleted, its Pods have left the node too (the kubelet
        has stopped them and the API server has removed them; docs/service.md, Backpressure)."""
        fut: Future[None] = Future()
        with self._lock:
            obs = self._obs.get(inv_id)
            if obs is None or _all_gone(obs):
                fut.set_result(None)
            else:
                self._gone.setdefault(inv_id, []).append(fut)
        return fut

    def observed(self, inv_id: str) -> Observed | None:
        with self._lock:
            obs = self._obs.get(inv_id)
            return None if obs is None else obs.copy()

    def ids(self) -> list[str]:
        with self._lock:
            return sorted(i for i, o in self._obs.items() if o.job and not o.job_deleted)

    def cancel(self, inv_id: str) -> None:
        with self._lock:
            self._obs.setdefault(inv_id, Observed()).cancelled = True
            self._evaluate(inv_id)

    def forget(self, inv_id: str) -> None:
        with self._lock:
            self._waiters.pop(inv_id, None)

    # -- events (watch threads) -----------------------------------------------------------

    def _job(self, kind: str, job: Obj) -> None:
        inv = _id(job)
        if not inv:
            return
        with self._lock:
            obs = self._obs.setdefault(inv, Observed())
            if _uid(obs.job) != _uid(job):  # a new Job under the same id: start afresh
                obs.job_deleted = obs.cancelled = False
                obs.configmap_fresh = obs.kv_fresh = False
                obs.kv_value = None
            obs.job = job
            obs.job_deleted = kind == "DELETED"
            self._saw_job(job)
            self._evaluate(inv)

    def _saw_job(self, job: Obj) -> None:
        sink = kv_sink_of(job)
        if sink is not None and self._kv_bucket_seen is not None:
            self._kv_bucket_seen(*sink)

    def kv_value(self, bucket: str, key: str, text: str) -> None:
        """A value seen in a KV result bucket: kept when ``key`` is an invocation whose Job
        writes there (any other key of a shared bucket is not ours to hold in memory)."""
        with self._lock:
            obs = self._obs.get(key)
            sink = kv_sink_of(obs.job) if obs is not None else None
            if obs is None or sink is None or sink[0] != bucket:
                return
            obs.kv_value = text
            self._evaluate(key)

    def _pod(self, kind: str, pod: Obj) -> None:
        inv = _id(pod)
        if not inv:
            return
        with self._lock:
            if kind == "DELETED":
                if inv in self._obs:
                    self._obs[inv].pods.pop(name_of(pod), None)
            else:
                self._obs.setdefault(inv, Observed()).pods[name_of(pod)] = pod
            self._evaluate(inv)

    def _cm(self, kind: str, cm: Obj) -> None:
        inv = _id(cm)
        if not inv:
            return
        with self._lock:
            if kind == "DELETED":
                if inv in self._obs:
                    self._obs[inv].configmap = None
            else:
                self._obs.setdefault(inv, Observed()).configmap = cm
            self._evaluate(inv)

    def _replace_jobs(self, jobs: list[Obj]) -> None:
        seen = {i: j for j in jobs if (i := _id(j))}
        with self._lock:
            for inv, obs in self._obs.items():
                if obs.job is not None and inv not in seen:
                    obs.job_deleted = True  # vanished while we were not watching
            for inv, job in seen.items():
                obs = self._obs.setdefault(inv, Observed())
                obs.job, obs.job_deleted = job, False
                self._saw_job(job)
            for inv in list(self._obs):
                self._evaluate(inv)

    def _replace_pods(self, pods: list[Obj]) -> None:
        with self._lock:
            for obs in self._obs.values():
                obs.pods = {}
            for pod in pods:
                if inv := _id(pod):
                    self._obs.setdefault(inv, Observed()).pods[name_of(pod)] = pod
            self._settle_gone()

    def _replace_cms(self, cms: list[Obj]) -> None:
        with self._lock:
            for obs in self._obs.values():
                obs.configmap = None
            for cm in cms:
                if inv := _id(cm):
                    self._obs.setdefault(inv, Observed()).configmap = cm
            self._settle_gone()

    def _evaluate(self, inv: str) -> None:
        """Resolve the waiters of ``inv`` if its outcome is known (lock held)."""
        waiters = self._waiters.get(inv)
        obs = self._obs.get(inv)
        if obs is None:
            return
        if inv in self._gone and _all_gone(obs):
            self._resolve_gone(inv)
        if not waiters:
            self._prune(inv, obs)
            return
        current = _uid(obs.job)
        ready = [(u, f) for u, f in waiters if u is None or u == current or obs.cancelled]
        if not ready:
            return
        decision = decide(obs)
        if decision is None:
            return
        self._waiters[inv] = [w for w in waiters if w not in ready]
        if not self._waiters[inv]:
            del self._waiters[inv]
        for _, fut in ready:
            if not fut.done():
                fut.set_result(decision)

    def _prune(self, inv: str, obs: Observed) -> None:
        """Forget an invocation whose Job and objects are all gone (a long-lived controller
        must not grow with every invocation it ever saw)."""
        if _all_gone(obs):
            del self._obs[inv]

    def _settle_gone(self) -> None:
        """After a relist (lock held): resolve every ``gone`` waiter whose objects are gone."""
        for inv in list(self._gone):
            obs = self._obs.get(inv)
            if obs is None or _all_gone(obs):
                self._resolve_gone(inv)

    def _resolve_gone(self, inv: str) -> None:
        for fut in self._gone.pop(inv, []):
            if not fut.done():
                fut.set_result(None)


def _all_gone(obs: Observed) -> bool:
    return (obs.job is None or obs.job_deleted) and not obs.pods and obs.configmap is None
