"""The exact accounting of a chaos run (issue 14, item 1), pure logic: what the workload saw
(published message numbers, every invocation's final record) and what the host did (faults)
in, tallies out.

A message is *confirmed* when a result that says ``acked: true`` returned it; it is *lost* when
it was published and never confirmed (the final phase drains every source until it stays
empty, so "still in the broker" is empty by then). A message returned more than once is a
*duplicate*; each is explained, or the run fails:

- ``unacked batch``: one of its deliveries was in a result saying ``acked: false`` (a runner
  stopped during its ack, or an ack the broker refused): at-least-once redelivers it by design;
- ``broker restart``: a restart of its broker's container fell between two confirmed
  deliveries (a broker killed with SIGKILL may lose acks it had not yet written down).

An invocation is *lost* when it never reached a final phase (Succeeded, Failed, Cancelled).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

RUNNER_DELETE = "runner-pod-delete"
RUNNER_KILL = "runner-process-kill"
CONTROLLER_RESTART = "controller-restart"
BROKER_RESTART = "broker-restart"
WATCH_DROP = "watch-drop"
FAULT_KINDS = (RUNNER_DELETE, RUNNER_KILL, CONTROLLER_RESTART, BROKER_RESTART, WATCH_DROP)
#: Faults aimed at one invocation's runner; the others hit whatever is in flight.
RUNNER_FAULTS = (RUNNER_DELETE, RUNNER_KILL)
FINAL = ("Succeeded", "Failed", "Cancelled")
UNACKED = "unacked batch"
BROKER = "broker restart"


@dataclass(frozen=True)
class Invocation:
    """One submitted invocation and its final record (phase ``Lost`` if none came)."""

    id: str
    kind: str  # "drain" or the nats operation
    phase: str
    submitted: float
    finished: float | None = None
    source: str | None = None
    stage: str = "chaos"
    exit_code: int | None = None
    reason: str = ""
    acked: bool | None = None
    messages: tuple[int, ...] = ()
    ok: bool = True  # the workload's own check of the result (load suite)

    @property
    def latency_s(self) -> float | None:
        return None if self.finished is None else self.finished - self.submitted


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float
    target: str
    invocation: str | None = None  # runner faults: whose runner
    source: str | None = None  # broker restarts: which broker


@dataclass
class SourceTally:
    published: int = 0
    returned: int = 0  # distinct messages in any result
    confirmed: int = 0  # distinct messages in an acked result
    deliveries: int = 0
    duplicated: list[int] = field(default_factory=list)  # returned more than once
    explained: Counter[str] = field(default_factory=Counter)
    unexplained: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


def exposed(fault: Fault, inv: Invocation) -> bool:
    """Whether ``fault`` could have touched ``inv``."""
    if fault.kind in RUNNER_FAULTS:
        return fault.invocation == inv.id
    if fault.kind == BROKER_RESTART and fault.source != inv.source:
        return False
    end = math.inf if inv.finished is None else inv.finished
    return inv.submitted <= fault.at <= end


def _explain(hits: Sequence[Invocation], restarts: Sequence[float]) -> str | None:
    if any(inv.acked is not True for inv in hits):
        return UNACKED
    first = min(hits, key=lambda i: i.submitted)
    last_end = max(i.finished or math.inf for i in hits)
    return BROKER if any(first.submitted <= t <= last_end for t in restarts) else None


def tally_source(
    source: str, published: int, invocations: Iterable[Invocation], faults: Iterable[Fault]
) -> SourceTally:
    """Every published number of ``source`` (0..published-1) against what drains returned."""
    hits: dict[int, list[Invocation]] = defaultdict(list)
    for inv in invocations:
        if inv.kind == "drain" and inv.source == source:
            for n in inv.messages:
                hits[n].append(inv)
    restarts = [f.at for f in faults if f.kind == BROKER_RESTART and f.source == source]
    t = SourceTally(published=published, returned=len(hits))
    t.deliveries = sum(len(h) for h in hits.values())
    confirmed = {n for n, h in hits.items() if any(i.acked is True for i in h)}
    t.confirmed = len(confirmed)
    t.lost = [n for n in range(published) if n not in confirmed]
    for n, h in sorted(hits.items()):
        if len(h) > 1:
            t.duplicated.append(n)
            why = _explain(h, restarts)
            if why is None:
                t.unexplained.append(n)
            else:
                t.explained[why] += 1
    return t


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0 < q <= 100), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def outcomes(invocations: Iterable[Invocation]) -> Counter[str]:
    """``phase`` (``phase: reason (exit N)`` for failures) → count."""
    c: Counter[str] = Counter()
    for inv in invocations:
        c[inv.phase if inv.phase == "Succeeded" else _why(inv)] += 1
    return c


def _why(inv: Invocation) -> str:
    return f"{inv.phase}: {inv.reason or '-'} (exit {inv.exit_code})"


def lost_invocations(invocations: Iterable[Invocation]) -> list[Invocation]:
    return [inv for inv in invocations if inv.phase not in FINAL]
