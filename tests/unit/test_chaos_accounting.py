"""The chaos suite's accounting (e2e/chaos/accounting.py), as specifications: which messages
count as lost, which duplicates are explained and by what, which invocations are lost, which
faults touched which invocation, and the percentiles the report prints."""

from __future__ import annotations

import random
from collections import deque

import pytest

from e2e.chaos import accounting as acc
from e2e.chaos.accounting import Fault, Invocation
from e2e.chaos.faults import FaultPlan, schedule
from e2e.chaos.report import Run, render


def drain(i: str, msgs: tuple[int, ...], acked: bool | None = True, t: float = 0, src: str = "nats", phase: str = "Succeeded") -> Invocation:
    return Invocation(id=i, kind="drain", phase=phase, submitted=t, finished=t + 5, source=src, acked=acked, messages=msgs)


def restart(at: float, src: str = "nats") -> Fault:
    return Fault(acc.BROKER_RESTART, at, "pod", source=src)


# (case, published, drains, faults) -> (confirmed, lost, explained, unexplained)
TALLIES = [
    ("every message confirmed once", 4, [drain("a", (0, 1)), drain("b", (2, 3))], [], (4, [], {}, [])),
    ("a message never returned is lost", 3, [drain("a", (0, 1))], [], (2, [2], {}, [])),
    ("returned only unacked is lost (not confirmed)", 2, [drain("a", (0, 1), acked=False)], [], (0, [0, 1], {}, [])),
    ("an unacked batch that came back is an explained duplicate", 2,
     [drain("a", (0, 1), acked=False), drain("b", (0, 1), t=30)], [], (2, [], {acc.UNACKED: 2}, [])),
    ("acked twice with no broker restart is unexplained", 1, [drain("a", (0,)), drain("b", (0,), t=30)], [], (1, [], {}, [0])),
    ("acked twice around a restart of its broker is explained", 1,
     [drain("a", (0,)), drain("b", (0,), t=30)], [restart(10)], (1, [], {acc.BROKER: 1}, [])),
    ("a restart of another broker explains nothing", 1,
     [drain("a", (0,)), drain("b", (0,), t=30)], [restart(10, "kafka")], (1, [], {}, [0])),
    ("a restart after both deliveries explains nothing", 1,
     [drain("a", (0,)), drain("b", (0,), t=30)], [restart(100)], (1, [], {}, [0])),
    ("another source's drains do not count", 1, [drain("a", (0,), src="kafka")], [], (0, [0], {}, [])),
    ("a failed drain's acked messages still count", 1, [drain("a", (0,), phase="Failed")], [], (1, [], {}, [])),
]


@pytest.mark.parametrize(("case", "published", "drains", "faults", "want"), TALLIES, ids=[t[0] for t in TALLIES])
def test_tally_source(case: str, published: int, drains: list[Invocation], faults: list[Fault], want: tuple[int, list[int], dict[str, int], list[int]]) -> None:
    t = acc.tally_source("nats", published, drains, faults)
    assert (t.confirmed, t.lost, dict(t.explained), t.unexplained) == want


# (case, fault, invocation) -> exposed
EXPOSURE = [
    ("a runner fault hits its own invocation", Fault(acc.RUNNER_KILL, 3, "p", invocation="a"), drain("a", ()), True),
    ("a runner fault hits no other", Fault(acc.RUNNER_DELETE, 3, "p", invocation="b"), drain("a", ()), False),
    ("a controller restart hits what is in flight", Fault(acc.CONTROLLER_RESTART, 3, "c"), drain("a", ()), True),
    ("a controller restart after it finished misses", Fault(acc.CONTROLLER_RESTART, 9, "c"), drain("a", ()), False),
    ("a broker restart hits its own source's drains", restart(3), drain("a", ()), True),
    ("a broker restart misses other sources", restart(3, "kafka"), drain("a", ()), False),
    ("a watch drop hits a lost invocation forever", Fault(acc.WATCH_DROP, 999, "c"), Invocation("a", "kv_put", "Lost", 0), True),
]


@pytest.mark.parametrize(("case", "fault", "inv", "want"), EXPOSURE, ids=[e[0] for e in EXPOSURE])
def test_exposed(case: str, fault: Fault, inv: Invocation, want: bool) -> None:
    assert acc.exposed(fault, inv) is want


@pytest.mark.parametrize(
    ("values", "q", "want"),
    [([], 50, None), ([7.0], 99, 7.0), ([float(v) for v in range(1, 101)], 50, 50.0), ([float(v) for v in range(1, 101)], 95, 95.0), ([float(v) for v in range(1, 101)], 99, 99.0), ([3.0, 1.0, 2.0], 100, 3.0)],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, want: float | None) -> None:
    assert acc.percentile(values, q) == want


def test_outcomes_name_the_reason_and_exit_code_of_failures_and_lost_ones_are_listed() -> None:
    invs = [drain("a", ()), Invocation("b", "drain", "Failed", 0, 1, exit_code=3, reason="Error"), Invocation("c", "kv_get", "Lost", 0, reason="no final record")]
    assert acc.outcomes(invs) == {"Succeeded": 1, "Failed: Error (exit 3)": 1, "Lost: no final record (exit None)": 1}
    assert [i.id for i in acc.lost_invocations(invs)] == ["c"]


def test_the_schedule_has_each_kind_the_same_number_of_times_and_depends_only_on_the_seed() -> None:
    plan = schedule(random.Random(7), 30)
    assert sorted(plan) == sorted(k for k in acc.FAULT_KINDS for _ in range(30))
    assert plan == schedule(random.Random(7), 30)
    assert plan != schedule(random.Random(8), 30)


def play(schedule_: list[str], per_kind: int, max_makeups: int, hits: dict[str, list[bool]]) -> tuple[list[str], FaultPlan]:
    """Run a plan whose tries of each kind find a target as ``hits`` says (then always)."""
    plan, tried, left = FaultPlan(deque(schedule_), per_kind, max_makeups), [], {k: list(v) for k, v in hits.items()}
    while (kind := plan.next()) is not None:
        tried.append(kind)
        plan.record(kind, left.get(kind, []).pop(0) if left.get(kind) else True)
    return tried, plan


R, B, C = acc.RUNNER_DELETE, acc.BROKER_RESTART, acc.CONTROLLER_RESTART
# (case, schedule, per_kind, max_makeups, hits) -> (kinds tried, in order; kinds left short)
PLANS = [
    ("every try hits: the schedule alone", [R, B], 1, 3, {}, ([R, B], [])),
    ("a miss is made up after the schedule", [R, B], 1, 3, {B: [False]}, ([R, B, B], [])),
    ("made up until the count is reached", [B, B], 2, 5, {B: [False, False, False]}, ([B, B, B, B, B], [])),
    ("bounded: given up after max_makeups, left short", [B], 1, 2, {B: [False] * 9}, ([B, B, B], [B])),
    ("make-ups go to the kind tried least", [R, B], 1, 3, {R: [False, False], B: [False]}, ([R, B, R, B, R], [])),
    ("no make-ups for a kind that reached its count", [C, C], 1, 3, {C: [True, False]}, ([C, C], [])),
]


@pytest.mark.parametrize(("case", "sched", "per_kind", "max_makeups", "hits", "expected"), PLANS, ids=[p[0] for p in PLANS])
def test_the_fault_plan_makes_up_missed_tries_within_a_bound(case: str, sched: list[str], per_kind: int, max_makeups: int,
                                                             hits: dict[str, list[bool]], expected: tuple[list[str], list[str]]) -> None:
    tried, plan = play(sched, per_kind, max_makeups, hits)
    assert (tried, [k for k in acc.FAULT_KINDS if plan.short(k) and k in sched]) == expected


# (case, run) -> verdict
def _run(**kw: object) -> Run:
    run = Run("chaos", 1, published={"nats": 2}, invocations=[drain("a", (0, 1))])
    for k, v in kw.items():
        setattr(run, k, v)
    return run


VERDICTS = [
    ("all confirmed, every invocation final", _run(), True),
    ("a lost message fails", _run(published={"nats": 3}), False),
    ("a lost invocation fails", _run(invocations=[drain("a", (0, 1)), Invocation("b", "drain", "Lost", 0)]), False),
    ("a wrong result fails", _run(invocations=[drain("a", (0, 1)), Invocation("b", "kv_get", "Succeeded", 0, 1, ok=False)]), False),
    ("an unexplained duplicate fails", _run(invocations=[drain("a", (0, 1)), drain("b", (1,), t=30)]), False),
    ("a failed check fails", _run(checks={"never more than 50 Jobs": False}), False),
]


@pytest.mark.parametrize(("case", "run", "want"), VERDICTS, ids=[v[0] for v in VERDICTS])
def test_verdict(case: str, run: Run, want: bool) -> None:
    text, ok = render(run)
    assert ok is want
    assert text.endswith("PASS" if want else "FAIL")


def test_the_fault_table_attributes_duplicates_to_the_faults_that_touched_their_deliveries() -> None:
    invs = [drain("a", (0, 1)), drain("b", (1,), t=30), drain("c", (2,), t=60)]
    faults = [restart(32), Fault(acc.RUNNER_KILL, 61, "p", invocation="c")]
    run = Run("chaos", 1, published={"nats": 3}, invocations=invs, faults=faults)
    text, ok = render(run)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.startswith("    ") and line.split()[0] in acc.FAULT_KINDS}
    # injected, skipped, invocations hit, failed, dup msgs, lost
    assert rows[acc.BROKER_RESTART] == ["1", "0", "1", "0", "1", "0"]
    assert rows[acc.RUNNER_KILL] == ["1", "0", "1", "0", "0", "0"]
    assert rows[acc.WATCH_DROP] == ["0", "0", "0", "0", "0", "0"]
    assert ok
    assert "1 broker restart" in text
