"""When a Queued record is abandoned (controller/service/orphans.py, the pure rule): a replica
that died took its in-memory queue along, and the submitter never retried. A live replica
heartbeats its queued records, so only the silence of ABANDONED_AFTER_S counts — never the
time an invocation has waited in a long queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.records import Record
from controller.service.orphans import ABANDONED_AFTER_S, ORPHAN_AGE_S, abandoned, orphaned

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
