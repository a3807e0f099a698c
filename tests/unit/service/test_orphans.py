"""The once-a-minute pass's pure rules (controller/service/orphans.py). When a Queued record is
abandoned: a replica that died took its in-memory queue along, and the submitter never
retried. A live replica heartbeats its queued records, so only the silence of
ABANDONED_AFTER_S counts — never the time an invocation has waited in a long queue. And which
Jobs are leftovers: those of final records, which no replica counts against maxInFlight."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.records import EXPIRES, Record
from controller.service.orphans import (
    ABANDONED_AFTER_S,
    ORPHAN_AGE_S,
    abandoned,
    leftover_jobs,
    orphaned,
)

NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def ago(s: float) -> str:
    return (NOW - timedelta(seconds=s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


LONG, SHORT = ago(ABANDONED_AFTER_S + 1), ago(ABANDONED_AFTER_S - 1)
# (case, phase, created, heartbeat, driven here) -> abandoned
CASES = [
    ("queued, never heartbeated, older than the bound", "Queued", LONG, None, False, True),
    ("queued, never heartbeated, younger than the bound", "Queued", SHORT, None, False, False),
    ("queued long ago but heartbeated recently: a live replica's long queue", "Queued", ago(3600), ago(10), False, False),
    ("queued long ago, last heartbeat past the bound: its replica died", "Queued", ago(3600), LONG, False, True),
    ("queued in this replica's own queue", "Queued", ago(3600), None, True, False),
    ("running: the Running orphan rule applies, not this one", "Running", ago(3600), None, False, False),
    ("final records are never touched", "Failed", ago(3600), None, False, False),
    ("final records are never touched (cancelled)", "Cancelled", ago(3600), None, False, False),
]


@pytest.mark.parametrize(("case", "phase", "created", "alive", "here", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_queued_record_is_abandoned_only_after_a_silence_of_the_bound(
    case: str, phase: str, created: str, alive: str | None, here: bool, expected: bool
) -> None:
    record = Record("inv-1", "ns", phase, created_at=created)  # type: ignore[arg-type]
    assert abandoned(record, alive, here, NOW) is expected


# (case, created, stamped alive) -> orphaned (a Running record whose Job is missing or suspended)
RUNNING = [
    ("claimed and silent past the bound: its submitter died", ago(ORPHAN_AGE_S + 1), None, True),
    ("claimed just now: its Job is being made", ago(5), None, False),
    ("queued an hour, set Running 5 s ago: its Job is being made, not an orphan", ago(3600), ago(5), False),
    ("set Running past the bound and still no Job: orphan", ago(3600), ago(ORPHAN_AGE_S + 1), True),
]


@pytest.mark.parametrize(("case", "created", "alive", "expected"), RUNNING, ids=[c[0] for c in RUNNING])
def test_a_running_record_without_a_running_job_is_an_orphan_only_after_a_silence_of_the_bound(
    case: str, created: str, alive: str | None, expected: bool
) -> None:
    assert orphaned(Record("inv-1", "ns", "Running", created_at=created), alive, NOW) is expected
    assert not orphaned(Record("inv-1", "ns", "Queued", created_at=created), alive, NOW)


def record_cm(inv_id: str, phase: str, *, expires_in_s: float = 86_400) -> dict[str, Any]:
    """A record's ConfigMap as the API server lists it. The table is built at collection, and
    a whole run takes longer than a retention: a day ahead stays unexpired until the test."""
    rec = Record(inv_id, "ns", phase, job=f"toolpod-{inv_id}", created_at=ago(60))  # type: ignore[arg-type]
    expires = (datetime.now(UTC) + timedelta(seconds=expires_in_s)).isoformat(timespec="seconds")
    return {
        "metadata": {"namespace": "ns", "annotations": {EXPIRES: expires}},
        "data": {"record.json": json.dumps(rec.as_json())},
    }


def job(inv_id: str, namespace: str = "ns", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": namespace, "name": f"toolpod-{inv_id}"}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return {"metadata": meta}


# (case, records, Jobs) -> the Jobs to delete
LEFTOVERS = [
    ("a finished invocation's Job that nobody deleted", [record_cm("a", "Succeeded")], [job("a")], [("ns", "toolpod-a")]),
    ("failed and cancelled ones alike", [record_cm("a", "Failed"), record_cm("b", "Cancelled")], [job("a"), job("b")], [("ns", "toolpod-a"), ("ns", "toolpod-b")]),
    ("a running invocation's Job is its driver's", [record_cm("a", "Running")], [job("a")], []),
    ("a queued record has no Job; one there is being started", [record_cm("a", "Queued")], [job("a")], []),
    ("a Job without a record (an older controller's, or a CLI run's)", [], [job("a")], []),
    ("the same name in another namespace is another invocation", [record_cm("a", "Succeeded")], [job("a", "other")], []),
    ("an expired record's id may be claimed anew at any moment", [record_cm("a", "Succeeded", expires_in_s=-86_400)], [job("a")], []),
    ("a Job being deleted already", [record_cm("a", "Succeeded")], [job("a", deleting=True)], []),
]


@pytest.mark.parametrize(("case", "cms", "jobs", "expected"), LEFTOVERS, ids=[c[0] for c in LEFTOVERS])
def test_the_pass_deletes_the_job_of_a_final_record_and_no_other(
    case: str, cms: list[dict[str, Any]], jobs: list[dict[str, Any]], expected: list[tuple[str, str]]
) -> None:
    assert leftover_jobs(cms, jobs) == expected
