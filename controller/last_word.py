"""Whether a record in a Job's result sink is the runner's last word: pure, over the record and
the Job, so ``outcome.decide`` can answer before the runner's exit is reported.

The runner writes a non-drain's record once, and a drain's that acks ``on_success`` twice
(docs/reference.md §5): before the ack (``acked: false``) and after it (``acked: true``, or,
when the ack failed, ``acked: false`` with a warning). A record is the last word when

    it belongs to this Job: the invocation's id, started after the Job was created ─ a KV key
        outlives its Job, and an earlier Job under the same id left its record there
    and it is one the runner never rewrites:
        an error record ─────────────────────────────────── written once, then the exit
        a success without ``acked`` ──────────────────────── not a drain
        ``acked: true`` ───────────────────────────────────── the ack happened
        ``acked: false`` with nothing to ack (``count`` 0) ── no second write
        ``acked: false`` under ack mode manual, defer, none ─ the drain acks nothing
    and its exit code is one after which the Job starts no other Pod (0, 2, 4; not 3).

Anything else (a drain's write before its ack, a ``js_consume`` that may ack, a failed ack's
rewrite) waits for the runner's exit, whose termination message names its final record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller import labels as L
from runner import contract as C
from runner.result import ToolResult
from runner.spec.ack import VALID_ACK_MODES, AckBehaviour, parse_ack_mode

#: Ack modes (canonical names) under which a drain writes its record only once.
_WRITES_ONCE = frozenset(
    name
    for name, behaviour in map(parse_ack_mode, VALID_ACK_MODES)
    if behaviour is not AckBehaviour.ACK_ALL
)


def is_last_word(record: ToolResult, job: dict[str, Any], exit_code: int) -> bool:
    """Whether ``record``, read from ``job``'s sink, is final (see the module docstring)."""
    return (
        exit_code in C.FINAL_EXIT_CODES
        and _belongs_to(record, job)
        and (record.status != "success" or _never_rewritten(record.data or {}))
    )


def _belongs_to(record: ToolResult, job: dict[str, Any]) -> bool:
    meta = job.get("metadata") or {}
    created = _epoch(meta.get("creationTimestamp"))
    started = _epoch(record.started_at)
    invocation = (meta.get("labels") or {}).get(L.INVOCATION)
    # creationTimestamp has whole seconds: a record of this Job never starts before it.
    return bool(invocation) and record.invocation_id == invocation and started >= created > 0


def _never_rewritten(data: dict[str, Any]) -> bool:
    if "acked" not in data or data["acked"] is True:
        return True
    return data.get("count") == 0 or data.get("ack_mode") in _WRITES_ONCE


def _epoch(text: Any) -> float:
    """Seconds since the epoch of an RFC 3339 time; 0 when there is none."""
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
