"""Orphans: invocations whose record no live replica will ever finish, finished as ``Failed``
with the reason (docs/service.md, "A replica that dies mid-submission"). Once a minute every
replica lists the records it serves, finishes the orphans nobody came back for and deletes the
expired records:

    Running, no Job or a suspended one, silent for ORPHAN_AGE_S
        its submitter died between claiming the id (or setting a queued one Running) and
        resuming the Job: ``Deleted`` (no Job) or ``NeverStarted`` (the suspended Job is
        deleted first, so it cannot start later)
    Queued, silent for ABANDONED_AFTER_S
        the replica whose in-memory queue held it died: ``QueueLost``
    final, and its Job still there
        its replica died (or its DELETE failed) between writing the record and deleting the
        Job: the Job is deleted now (``leftover_jobs``), not by its TTL minutes later, since a
        Job no replica counts would stand beside ``maxInFlight`` Jobs that do (a restarted
        replica does this before it is ready)

*Silent*: no sign of life since the later of its claim and ``toolpod.dev/alive-at``, which a
live replica stamps on its queued records every HEARTBEAT_S and when it sets one Running. So a
long queue on a healthy replica is never taken for a dead one's, nor is an invocation that
waited long in it taken for an orphan while its Job is being created (any other replica's pass
did so, and deleted the suspended Job: the load suite, e2e/chaos).

A retried POST of the same invocation (``recovery.take_over``) starts such a record before
the reaper does; whichever writes first wins (records are written conditionally), so an
invocation is either run or finished here, never both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from controller import labels as L
from controller import records
from controller.outcome import Observed, synthetic
from controller.records import Record

if TYPE_CHECKING:
    from controller.service.core import Core

log = logging.getLogger("toolpod.service")
#: A Running record this old without a Job lost it (nobody collected it before its TTL).
ORPHAN_AGE_S = 120
#: A Queued record not heartbeated for this long was in the queue of a replica that died.
ABANDONED_AFTER_S = 120
HEARTBEAT_S = 30
LOST = "the Job was gone before its outcome was collected; no result was kept"
NEVER_STARTED = (
    "the replica that submitted it stopped before its Job started, and the submitter did not "
    "retry; it never ran: submit it again"
)
QUEUE_LOST = (
    "the replica that queued it stopped before starting it, and the submitter did not retry "
    f"within {ABANDONED_AFTER_S} s; it never ran: submit it again under a new id"
)


def served_records(core: Core) -> list[dict[str, Any]]:
    """The records of the namespaces this service serves: only its watched ones when it is
    told to serve no other (its RBAC may not reach further), else the whole cluster's."""
    if core.config.only_watched:
        return records.list_in(core.kube, core.config.namespaces)
    return records.list_everywhere(core.kube)


def served_jobs(core: Core) -> list[dict[str, Any]]:
    """The runner Jobs of the namespaces this service serves (as ``served_records``)."""
    if core.config.only_watched:
        found: list[dict[str, Any]] = []
        for ns in core.config.namespaces:
            found += core.kube.list("batch/v1", "Job", ns, L.RUNNERS)[0]
        return found
    out = core.kube.call("GET", "/apis/batch/v1/jobs", query=[("labelSelector", L.RUNNERS)])
    return list(out.get("items") or [])


def leftover_jobs(cms: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The pure rule: (namespace, name) of each Job whose invocation's record is final and not
    expired. A final record's id is done (the same invocation again gets that record), so its
    Job has nothing left to do; an expired record may be deleted and its id claimed anew any
    moment, so its Job is left alone (the TTL has removed a Job that old long since)."""
    done = {
        (rec.namespace, rec.job)
        for cm in cms
        if not records.expired(cm) and (rec := records.parse(cm)[0]).final and rec.job
    }
    found = []
    for job in jobs:
        meta = job.get("metadata") or {}
        at = (meta.get("namespace"), meta.get("name"))
        if at in done and not meta.get("deletionTimestamp"):
            found.append((str(at[0]), str(at[1])))
    return found


async def delete_leftover_jobs(core: Core, cms: list[dict[str, Any]]) -> None:
    """Delete the Jobs of finished invocations that no replica deleted (``leftover_jobs``)."""
    if core.config.settings.keep:
        return
    jobs = await core.call(served_jobs, core)
    for ns, name in leftover_jobs(cms, jobs):
        log.warning("Job %s/%s outlived its invocation's final record: deleting it", ns, name)
        await core.call(core.kube.delete, "batch/v1", "Job", ns, name)


def suspended(job: dict[str, Any]) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def silent_s(record: Record, alive_at: str | None, now: datetime) -> float:
    """Seconds since the last sign of life: its claim, or a live replica's stamp."""
    last = max(_at(record.created_at), _at(alive_at or record.created_at))
    return (now - last).total_seconds()


def abandoned(record: Record, alive_at: str | None, driven_here: bool, now: datetime) -> bool:
    """The pure rule: a Queued record that no request of this replica holds, silent for
    longer than ABANDONED_AFTER_S."""
    if record.phase != "Queued" or driven_here:
        return False
    return silent_s(record, alive_at, now) > ABANDONED_AFTER_S


def orphaned(record: Record, alive_at: str | None, now: datetime) -> bool:
    """The pure rule's other half: a Running record (whose Job is missing or suspended)
    silent for longer than ORPHAN_AGE_S."""
    return record.phase == "Running" and silent_s(record, alive_at, now) > ORPHAN_AGE_S


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def reap_one(
    core: Core, record: Record, job: dict[str, Any] | None, alive_at: str | None
) -> None:
    """Finish a Running orphan: no Job (gone, or never made), or a Job its submitter never
    resumed (deleted first, so it cannot start after its record is final)."""
    if not orphaned(record, alive_at, datetime.now(UTC)):
        return
    ex = core.executor(record.namespace)
    reason, message = ("Deleted", LOST) if job is None else ("NeverStarted", NEVER_STARTED)
    if job is not None:
        await core.call(core.kube.delete, "batch/v1", "Job", record.namespace, record.job or "")
    outcome = synthetic(Observed(job_deleted=True), "error", "job_failed", reason, message)
    outcome.result["invocation_id"] = record.id
    await core.call(ex.records.finish, record.id, outcome)


async def reap_queued(core: Core, record: Record) -> None:
    """Finish an abandoned Queued record — only while it is still Queued: a retried POST that
    set it Running first has started it."""
    outcome = synthetic(Observed(), "error", "job_failed", "QueueLost", QUEUE_LOST)
    outcome.result["invocation_id"] = record.id
    done = await core.call(core.executor(record.namespace).records.abandon, record.id, outcome)
    if done.phase == "Failed" and done.reason == "QueueLost":
        log.warning("invocation %s/%s: %s", record.namespace, record.id, QUEUE_LOST)


async def reap_orphans(core: Core, cms: list[dict[str, Any]]) -> None:
    """The once-a-minute pass over records nobody here drives: Running ones whose Job is
    missing or suspended, abandoned Queued ones (a healthy Job is left to whoever drives it)."""
    now = datetime.now(UTC)
    for cm in cms:
        record = records.parse(cm)[0]
        key = (record.namespace, record.id)
        if abandoned(record, records.alive_at(cm), core.driving(key), now):
            await reap_queued(core, record)
        if record.phase != "Running" or core.driving(key):
            continue
        tracker = await core.call(core.executor(record.namespace).tracker)
        obs = tracker.observed(record.id)
        job = None if obs is None else obs.job
        if job is None or suspended(job):
            await reap_one(core, record, job, records.alive_at(cm))


async def sweep_forever(core: Core) -> None:
    while True:
        await asyncio.sleep(core.config.sweep_every_s)
        try:
            cms = await core.call(served_records, core)
            await reap_orphans(core, cms)
            await delete_leftover_jobs(core, cms)
            for cm in cms:
                if records.expired(cm):
                    meta = cm["metadata"]
                    await core.call(
                        core.kube.delete, "v1", "ConfigMap", meta["namespace"], meta["name"]
                    )
        except Exception as e:  # the next round tries again
            log.warning("sweeping expired records failed: %s", e)


async def heartbeat_forever(core: Core) -> None:
    """Every HEARTBEAT_S, mark this replica's queued records alive (one PATCH each), so no
    replica's reaper takes them for a dead replica's."""
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        for ns, inv_id in core.admission.queued_keys():
            with contextlib.suppress(Exception):  # gone or cancelled meanwhile; next round
                await core.call(core.executor(ns).records.touch, inv_id)
