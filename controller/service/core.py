"""The service's engine: one ``KubernetesExecutor`` per namespace it serves, backpressure in
front of them, and every invocation it starts driven to its final record.

    POST ─▶ reserve a slot (RUN / QUEUE / none: 429) ─▶ claim the id's record (first claimer
            wins; the same invocation again returns that record) ─▶ RUN: create the Job now
                                                                  QUEUE: wait in FIFO order
    final record ─▶ the executor writes the invocation's record and answers (then deletes the
            Job) ─▶ the slot goes to the oldest queued invocation
    GET ─▶ the record (the cluster's, so any replica answers); ``wait`` waits for the outcome

Executors are made lazily per namespace (``executors``). What other processes
left (a restart's running invocations, a dead replica's half-submitted ones) is taken over by
``recovery``; what nobody comes back for is finished by ``orphans``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from controller.executors.base import InvocationNotFound
from controller.executors.kubernetes import KubernetesExecutor, cancelled
from controller.k8s import Kube
from controller.outcome import Observed, Outcome, synthetic
from controller.records import Record
from controller.service import recovery
from controller.service.admission import Admission, Slot
from controller.service.config import ServeConfig
from controller.service.errors import HttpError
from controller.service.executors import Executors
from controller.service.metrics import Metrics
from runner.spec.invocation import Invocation
from runner.telemetry import span

T = TypeVar("T")
Key = tuple[str, str]
log = logging.getLogger("toolpod.service")

#: The longest an answered invocation's slot waits for its Pods to leave the node (a busy
#: kubelet takes about a minute to stop a deleted Job's Pods; a lost node never does).
SLOT_HOLD_MAX_S = 120


class Core:
    def __init__(self, config: ServeConfig, client: Any, metrics: Metrics) -> None:
        self.config, self.client, self.metrics = config, client, metrics
        self.kube = Kube(client)
        self.admission: Admission[Key, Invocation] = Admission(
            config.max_in_flight, config.max_queued
        )
        #: Invocations this replica drives, set once each has its final record.
        self._done: dict[Key, asyncio.Event] = {}
        self._accepted: dict[Key, float] = {}
        #: Requests of this replica between reserving a slot and claiming the id.
        self._claiming: Counter[Key] = Counter()
        self._pool = ThreadPoolExecutor(config.threads, thread_name_prefix="toolpod-serve")
        self.executors = Executors(config, client, self._pool, self._busy_namespaces)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.ready = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def executor(self, ns: str) -> KubernetesExecutor:
        return self.executors.get(ns)

    def _busy_namespaces(self) -> set[str]:
        return {ns for ns, _ in self._done} | {ns for ns, _ in self._accepted}

    # -- submit ----------------------------------------------------------------------------

    async def submit(self, ns: str, inv: Invocation) -> Record:
        key, ex = (ns, inv.invocation_id), self.executor(ns)
        slot = self.admission.reserve()
        if slot is None:
            existing = await self.call(ex.records.existing, inv)
            if existing is not None:
                return existing
            raise self._busy()
        self._claiming[key] += 1
        try:
            phase = "Running" if slot is Slot.RUN else "Queued"
            record, created = await self.call(ex.claim, inv, phase)
        except BaseException:
            self.admission.release(slot)
            raise
        finally:
            self._claiming[key] -= 1
            if not self._claiming[key]:
                del self._claiming[key]
        if not created and not recovery.left_behind(self, key, record):
            self.admission.release(slot)
            return record
        self._done[key], self._accepted[key] = asyncio.Event(), time.monotonic()
        if slot is Slot.QUEUE:
            self.admission.enqueue(key, inv)
            self._gauges()
            self._pump()
            return record
        if created:
            await self._start_or_undo(ex, key, inv)
        else:
            record = await recovery.take_over(self, ex, key, inv, record)
        return record

    def _busy(self) -> HttpError:
        a = self.admission
        msg = f"{a.in_flight} invocations in flight and {a.queued} queued (the most allowed)"
        return HttpError(429, "busy", msg, headers={"Retry-After": str(self.config.retry_after_s)})

    async def _start_or_undo(self, ex: KubernetesExecutor, key: Key, inv: Invocation) -> None:
        """Start now; when that fails the record goes too, so the caller's retry can run."""
        try:
            await self.start_job(ex, key, inv)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.call(ex.records.delete, key[1])
            self.release(key)
            raise

    async def start_job(self, ex: KubernetesExecutor, key: Key, inv: Invocation) -> None:
        tool = inv.tool
        attrs = {"execution_id": inv.execution_id, "namespace": key[0], "kind": tool.kind}
        with span("toolpod.submit", **attrs):
            await self.call(ex.start, inv)
        self.metrics.submit_to_job.observe(time.monotonic() - self._accepted[key])
        self._gauges()
        self._drive(ex, key, await self.call(ex.outcome, key[1]))

    def _drive(self, ex: KubernetesExecutor, key: Key, fut: Future[Outcome]) -> None:
        def done(f: asyncio.Future[Outcome]) -> None:
            if f.cancelled() or f.exception() is not None:
                log.error("invocation %s/%s: no final record", *key, exc_info=f.exception())
            else:
                self._count(key, f.result())
            self._signal(key)  # waiters have their answer now; the slot follows the Job
            self.spawn(self._free_when_cleaned(ex, key))

        asyncio.wrap_future(fut).add_done_callback(done)

    async def _free_when_cleaned(self, ex: KubernetesExecutor, key: Key) -> None:
        """The slot follows the Job's Pods off the node (``ex.cleaned``), up to
        ``SLOT_HOLD_MAX_S``: a Pod on a lost node can stay Terminating for good, and a slot
        held for good would shrink the service for good."""
        cleaned = ex.cleaned(key[1])
        if cleaned is not None:
            try:
                freed = asyncio.shield(asyncio.wrap_future(cleaned))
                await asyncio.wait_for(freed, SLOT_HOLD_MAX_S)
            except TimeoutError:
                log.warning(
                    "invocation %s/%s: its Pods are still on the node %d s after its Job was "
                    "deleted; its slot is freed anyway",
                    *key,
                    SLOT_HOLD_MAX_S,
                )
        self.release(key)

    def _count(self, key: Key, outcome: Outcome) -> None:
        tool = outcome.result.get("tool") or {}
        labels = (tool.get("kind") or "", tool.get("operation") or "", outcome.status)
        self.metrics.invocations.labels(*labels).inc()
        if key in self._accepted:
            self.metrics.submit_to_result.observe(time.monotonic() - self._accepted[key])

    def release(self, key: Key) -> None:
        """An invocation of this replica finished: wake its waiters, free its slot."""
        self._signal(key)
        nxt = self.admission.done()
        if nxt is not None:
            self.spawn(self._start_queued(*nxt))
        self._gauges()

    def _signal(self, key: Key) -> None:
        self._accepted.pop(key, None)
        event = self._done.pop(key, None)
        if event is not None:
            event.set()

    def _pump(self) -> None:
        while (nxt := self.admission.take_free()) is not None:
            self.spawn(self._start_queued(*nxt))

    async def _start_queued(self, key: Key, inv: Invocation) -> None:
        ex = self.executor(key[0])
        try:
            record = await self.call(ex.records.set_phase, key[1], "Running")
            if record.final:  # cancelled through another replica while it waited here
                self.release(key)
                return
            await self.start_job(ex, key, inv)
        except Exception as e:
            log.error("queued invocation %s/%s could not start", *key, exc_info=e)
            msg = f"the invocation could not be started: {e}"
            outcome = synthetic(Observed(), "error", "job_failed", "StartFailed", msg)
            outcome.result["invocation_id"] = key[1]
            with contextlib.suppress(Exception):
                await self.call(ex.records.finish, key[1], outcome)
            self.release(key)

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _gauges(self) -> None:
        self.metrics.in_flight.set(self.admission.in_flight)
        self.metrics.queued.set(self.admission.queued)

    # -- read, wait, cancel ----------------------------------------------------------------

    async def view(self, ns: str, inv_id: str) -> Record:
        record = await self.call(self.executor(ns).records.get, inv_id)
        if record is None:
            raise InvocationNotFound(
                f"no invocation '{inv_id}' in namespace {ns} (finished invocations stay "
                f"readable for {self.config.settings.retention_s} s)"
            )
        return record

    async def wait(self, ns: str, inv_id: str, timeout: float) -> Record:
        record = await self.view(ns, inv_id)
        if record.final or timeout <= 0:
            return record
        with span("toolpod.wait", namespace=ns), contextlib.suppress(TimeoutError):
            event = self._done.get((ns, inv_id))
            if event is not None:
                await asyncio.wait_for(event.wait(), timeout)
            else:  # another replica's (or a CLI's) invocation: the shared watches tell
                fut = await self.call(self.executor(ns).outcome, inv_id)
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fut)), timeout)
        return await self.view(ns, inv_id)

    async def cancel(self, ns: str, inv_id: str) -> Record:
        key, ex = (ns, inv_id), self.executor(ns)
        if self.admission.cancel(key):  # queued here: it never gets a Job
            record = await self.call(ex.records.finish, inv_id, cancelled(inv_id, None))
            self._signal(key)
            self._gauges()
            return record
        await self.call(ex.cancel, inv_id)
        return await self.view(ns, inv_id)

    async def list(self, ns: str, execution_id: str | None) -> list[Record]:
        return await self.call(self.executor(ns).records.list, execution_id)

    # -- lifetime ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Become ready in the background (``recovery``); until then requests get 503."""
        self.spawn(recovery.become_ready(self))

    def adopt(self, ex: KubernetesExecutor, key: Key, fut: Future[Outcome]) -> None:
        """Drive an invocation a previous process started (it counts against the cap)."""
        self.admission.adopt()
        self._done[key], self._accepted[key] = asyncio.Event(), time.monotonic()
        self._drive(ex, key, fut)

    def driving(self, key: Key) -> bool:
        return key in self._done

    def claiming(self, key: Key) -> bool:
        """A request of this replica is between reserving a slot and claiming the id."""
        return key in self._claiming

    def synced(self) -> bool:
        """Ready, and every namespace's watches have listed (never blocks)."""
        return self.ready and self.executors.synced()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.executors.close()
        self._pool.shutdown(wait=False)
