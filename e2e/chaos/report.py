"""The report a chaos or load run prints (issue 14, item 3), and its verdict: messages
published / returned / duplicated / lost per source and per fault kind; invocations submitted /
succeeded / failed with reason; latency percentiles. Built from the workload's events and the
host's faults by ``accounting``; formatting only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from e2e.chaos import accounting as acc
from e2e.chaos.accounting import Fault, Invocation


@dataclass
class Run:
    """Everything a run observed."""

    suite: str
    seed: int
    invocations: list[Invocation] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    checks: dict[str, bool] = field(default_factory=dict)


def invocation(ev: dict[str, Any]) -> Invocation:
    """The accounting's view of an ``invocation`` event."""
    return Invocation(
        id=ev["id"],
        kind=ev["kind"],
        phase=ev["phase"],
        submitted=ev["submitted"],
        finished=ev.get("finished") if ev["phase"] in acc.FINAL else None,
        source=ev.get("source"),
        stage=ev.get("stage", "chaos"),
        exit_code=ev.get("exit_code"),
        reason=ev.get("reason", ""),
        acked=ev.get("acked"),
        messages=tuple(ev.get("messages") or ()),
        ok=ev.get("ok", True),
    )


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def latency_lines(invs: Sequence[Invocation]) -> list[str]:
    lines = ["  latency submit -> final record, ms      n      p50      p95      p99      max"]
    kinds = sorted({i.kind for i in invs})
    for kind in ["all", *kinds]:
        vals = [i.latency_s for i in invs if kind in ("all", i.kind) and i.latency_s is not None]
        p = [acc.percentile(vals, q) for q in (50, 95, 99, 100)]
        lines.append(f"    {kind:<35}{len(vals):>5}" + "".join(f"{_ms(x):>9}" for x in p))
    return lines


def tallies(run: Run) -> dict[str, acc.SourceTally]:
    return {
        source: acc.tally_source(source, count, run.invocations, run.faults)
        for source, count in sorted(run.published.items())
    }


def message_lines(counts: dict[str, acc.SourceTally]) -> tuple[list[str], bool]:
    lines = ["  messages      published  returned  confirmed  deliveries  duplicated  lost"]
    ok = True
    for source, t in counts.items():
        lines.append(
            f"    {source:<12}{t.published:>9}{t.returned:>10}{t.confirmed:>11}{t.deliveries:>12}"
            f"{len(t.duplicated):>12}{len(t.lost):>6}"
        )
        why = ", ".join(f"{n} {k}" for k, n in sorted(t.explained.items()))
        if why:
            lines.append(f"      duplicates explained: {why}")
        if t.unexplained:
            ok = False
            lines.append(f"      UNEXPLAINED duplicates: {t.unexplained[:20]}")
        if t.lost:
            ok = False
            lines.append(f"      LOST: {t.lost[:20]}{' ...' if len(t.lost) > 20 else ''}")
    return lines, ok


def fault_lines(run: Run, counts: dict[str, acc.SourceTally]) -> list[str]:
    """Per fault kind: how often, what it touched, and the duplicated and lost messages that
    an invocation it touched returned."""
    dups = {(s, n) for s, t in counts.items() for n in t.duplicated}
    lost = {(s, n) for s, t in counts.items() for n in t.lost}
    lines = ["  faults                 injected  skipped  invocations hit  failed  dup msgs  lost"]
    for kind in acc.FAULT_KINDS:
        mine = [f for f in run.faults if f.kind == kind]
        hit = {i.id: i for f in mine for i in run.invocations if acc.exposed(f, i)}
        failed = sum(1 for i in hit.values() if i.phase != "Succeeded")
        seen = {(i.source, n) for i in hit.values() for n in i.messages}
        lines.append(
            f"    {kind:<22}{len(mine):>9}{run.skipped.count(kind):>9}{len(hit):>17}{failed:>8}"
            f"{len(dups & seen):>10}{len(lost & seen):>6}"
        )
    return lines


def invocation_lines(invs: Sequence[Invocation]) -> tuple[list[str], bool]:
    lines = [f"  invocations submitted: {len(invs)}"]
    for what, n in sorted(acc.outcomes(invs).items(), key=lambda kv: -kv[1]):
        lines.append(f"    {n:>6}  {what}")
    lost = acc.lost_invocations(invs)
    wrong = [i for i in invs if not i.ok and i.phase in acc.FINAL]
    for i in lost[:20]:
        lines.append(f"    LOST invocation {i.id}: {i.reason}")
    for i in wrong[:20]:
        lines.append(f"    WRONG result of {i.id} ({i.kind}, {i.phase})")
    lines.append(f"    lost invocations: {len(lost)}, wrong results: {len(wrong)}")
    return lines, not lost and not wrong


def render(run: Run) -> tuple[str, bool]:
    """The report's text and whether the run passed."""
    head = [f"toolpod {run.suite} report (seed {run.seed})"]
    counts = tallies(run)
    msgs, msgs_ok = message_lines(counts)
    invs, invs_ok = invocation_lines(run.invocations)
    # The final drains only empty the sources; the figures are of the run's own work.
    work = [i for i in run.invocations if i.stage != "final"]
    body = head + msgs + invs + latency_lines(work)
    if run.suite == "chaos":
        body += fault_lines(run, counts)
    body += [f"  {k}: {v}" for k, v in run.extra.items()]
    body += [f"  check: {k}: {'ok' if v else 'FAILED'}" for k, v in run.checks.items()]
    ok = msgs_ok and invs_ok and all(run.checks.values())
    body.append(f"  verdict: {'PASS' if ok else 'FAIL'}")
    return "\n".join(body), ok
