"""How a (re)started service takes over: the namespaces it was told to watch are synced, and
every invocation whose record says ``Running`` is adopted — its Job watched again and its
outcome recorded as if this process had started it; one whose Job never ran (its submitter
died first) is left to the submitter's retried POST (``Core._take_over``). Then, once a
minute, expired records of every namespace are deleted and such orphans nobody came back for
are finished, as ``Failed`` with the reason. Nothing here is needed for correctness of a single
request; it is what makes a restart lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from controller import records
from controller.outcome import Observed, synthetic
from controller.records import Record

if TYPE_CHECKING:
    from controller.service.core import Core

log = logging.getLogger("toolpod.service")
#: A Running record this old without a Job lost it (nobody collected it before its TTL).
ORPHAN_AGE_S = 120
LOST = "the Job was gone before its outcome was collected; no result was kept"
NEVER_STARTED = (
    "the replica that submitted it stopped before its Job started, and the submitter did not "
    "retry; it never ran: submit it again"
)


async def become_ready(core: Core) -> None:
    delay = 0.5
    while True:
        try:
            for ns in core.config.namespaces:
                await core.call(core.executor(ns).tracker)
            for cm in await core.call(served_records, core):
                await adopt(core, records.parse(cm)[0])
            break
        except Exception as e:  # the API server is not there yet: try again
            log.warning("not ready yet: %s", e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    core.ready = True
    core.spawn(sweep_forever(core))


def served_records(core: Core) -> list[dict[str, Any]]:
    """The records of the namespaces this service serves: only its watched ones when it is
    told to serve no other (its RBAC may not reach further), else the whole cluster's."""
    if core.config.only_watched:
        return records.list_in(core.kube, core.config.namespaces)
    return records.list_everywhere(core.kube)


async def adopt(core: Core, record: Record) -> None:
    """Watch a running invocation's Job again (one that cannot be is logged, not fatal: its
    namespace may be going away)."""
    if record.phase != "Running" or core.driving((record.namespace, record.id)):
        return
    try:
        await _adopt_running(core, record)
    except Exception as e:
        log.warning("invocation %s/%s not adopted: %s", record.namespace, record.id, e)


async def _adopt_running(core: Core, record: Record) -> None:
    ex = core.executor(record.namespace)
    tracker = await core.call(ex.tracker)
    obs = tracker.observed(record.id)
    job = None if obs is None else obs.job
    if job is None or _suspended(job):
        # Its submitter died before the Job ran: the retried POST starts it (Core._take_over);
        # past ORPHAN_AGE_S nobody will, and the record says so.
        await _reap(core, record, job)
        return
    core.adopt(ex, (record.namespace, record.id), await core.call(ex.outcome, record.id))


def _suspended(job: dict[str, Any]) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


async def _reap(core: Core, record: Record, job: dict[str, Any] | None) -> None:
    """Finish an orphan older than ORPHAN_AGE_S: no Job (gone, or never made), or a Job its
    submitter never resumed (deleted first, so it cannot start after its record is final)."""
    if records.age_s(record) <= ORPHAN_AGE_S:
        return
    ex = core.executor(record.namespace)
    reason, message = ("Deleted", LOST) if job is None else ("NeverStarted", NEVER_STARTED)
    if job is not None:
        await core.call(core.kube.delete, "batch/v1", "Job", record.namespace, record.job or "")
    outcome = synthetic(Observed(job_deleted=True), "error", "job_failed", reason, message)
    outcome.result["invocation_id"] = record.id
    await core.call(ex.records.finish, record.id, outcome)


async def reap_orphans(core: Core, cms: list[dict[str, Any]]) -> None:
    """Running records nobody here drives whose Job is missing or suspended: the once-a-minute
    pass that finishes those whose submitter never came back (a healthy Job is left to the
    replica that drives it)."""
    for cm in cms:
        record = records.parse(cm)[0]
        if record.phase != "Running" or core.driving((record.namespace, record.id)):
            continue
        tracker = await core.call(core.executor(record.namespace).tracker)
        obs = tracker.observed(record.id)
        job = None if obs is None else obs.job
        if job is None or _suspended(job):
            await _reap(core, record, job)


async def sweep_forever(core: Core) -> None:
    while True:
        await asyncio.sleep(core.config.sweep_every_s)
        try:
            cms = await core.call(served_records, core)
            await reap_orphans(core, cms)
            for cm in cms:
                if records.expired(cm):
                    meta = cm["metadata"]
                    await core.call(
                        core.kube.delete, "v1", "ConfigMap", meta["namespace"], meta["name"]
                    )
        except Exception as e:  # the next round tries again
            log.warning("sweeping expired records failed: %s", e)
