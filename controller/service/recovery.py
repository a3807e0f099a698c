"""How a service takes over what another process left: at start, the namespaces it was told
to watch are synced and every invocation whose record says ``Running`` is adopted — its Job
watched again and its outcome recorded as if this process had started it, and the Jobs of
finished invocations its predecessor had no time to delete are deleted; and on a POST, a
record a replica that died mid-submission left behind is started (``left_behind``,
``take_over``). What nobody comes back for is finished by ``orphans``. Nothing here is needed
for correctness of a single request; it is what makes a restart lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from controller import records
from controller.executors.kubernetes import KubernetesExecutor
from controller.records import Record
from controller.service import orphans
from runner.spec.invocation import Invocation

if TYPE_CHECKING:
    from controller.service.core import Core, Key

log = logging.getLogger("toolpod.service")


async def become_ready(core: Core) -> None:
    delay = 0.5
    while True:
        try:
            for ns in core.config.namespaces:
                await core.call(core.executor(ns).tracker)
            cms = await core.call(orphans.served_records, core)
            for cm in cms:
                await adopt(core, records.parse(cm)[0], records.alive_at(cm))
            # Before ready: a Job a dead replica left after its invocation's final record
            # would stand beside the maxInFlight Jobs this replica is about to start.
            await orphans.delete_leftover_jobs(core, cms)
            break
        except Exception as e:  # the API server is not there yet: try again
            log.warning("not ready yet: %s", e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    core.ready = True
    core.spawn(orphans.sweep_forever(core))
    core.spawn(orphans.heartbeat_forever(core))


async def adopt(core: Core, record: Record, alive_at: str | None = None) -> None:
    """Watch a running invocation's Job again (one that cannot be is logged, not fatal: its
    namespace may be going away)."""
    if record.phase != "Running" or core.driving((record.namespace, record.id)):
        return
    try:
        await _adopt_running(core, record, alive_at)
    except Exception as e:
        log.warning("invocation %s/%s not adopted: %s", record.namespace, record.id, e)


async def _adopt_running(core: Core, record: Record, alive_at: str | None) -> None:
    ex = core.executor(record.namespace)
    tracker = await core.call(ex.tracker)
    obs = tracker.observed(record.id)
    job = None if obs is None else obs.job
    if job is None or orphans.suspended(job):
        # Its submitter died before the Job ran: the retried POST starts it (take_over);
        # past ORPHAN_AGE_S nobody will, and the record says so.
        await orphans.reap_one(core, record, job, alive_at)
        return
    core.adopt(ex, (record.namespace, record.id), await core.call(ex.outcome, record.id))


def left_behind(core: Core, key: Key, record: Record) -> bool:
    """A record no one here drives that a resubmission may start: Queued (a replica that
    died took its queue along; a Queued record never has a Job), or Running younger than the
    Jobs' TTL (a replica died between claiming the id and creating or resuming the Job; had a
    Job existed and finished, its record would be final or the Job is still there). Starting
    attaches to an existing Job (409) and resumes a suspended one, so a live replica's
    invocation is watched twice, never run twice."""
    if record.final or core.driving(key) or core.claiming(key):
        return False  # finished, or a request of this replica is submitting it now
    ttl = core.config.settings.ttl_after_finished_s
    return record.phase == "Queued" or records.age_s(record) < ttl


async def take_over(
    core: Core, ex: KubernetesExecutor, key: Key, inv: Invocation, rec: Record
) -> Record:
    """Start (or attach to) the Job of a left-behind record; the record is not ours to delete
    when that fails: release the slot and let the caller retry. A Queued record an orphan
    reaper finished meanwhile is not started: its final record answers."""
    try:
        if rec.phase == "Queued":
            rec = await core.call(ex.records.set_phase, key[1], "Running")
        if rec.final:
            core.release(key)
            return rec
        await core.start_job(ex, key, inv)
    except BaseException:
        core.release(key)
        raise
    return rec
