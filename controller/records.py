"""Invocation records: what an invocation was and became, kept in the cluster for a while.

One ConfigMap per invocation, ``toolpod-<id>-record`` in the invocation's namespace, labelled
``app.kubernetes.io/component=record`` and *not* owned by the Job (it outlives it):

    data.record.json   the invocation record of docs/service.md (phase, exit_code, result, ...)
    data.digest        sha256 of the invocation as validated: the same id with another
                       invocation is a conflict, the same one attaches
    annotations        toolpod.dev/expires-at (RFC 3339) once finished;
                       toolpod.dev/alive-at when a live replica last vouched for it (its
                       queue's heartbeat, the moment it was set Running)

Created *before* the Job (``claim``: create, 409 = read it), so the first submitter of an id
wins across processes and replicas, and a record that is already final answers for the id
without a second run. Finished records expire after the retention period; ``sweep`` deletes
expired ones (every controller of the namespace calls it now and then).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from controller import labels as L
from controller.errors import Conflict, IdConflict, NotFound
from controller.k8s import Kube
from controller.outcome import Outcome
from runner.contract import job_name
from runner.spec.invocation import Invocation, complete_invocation_model

# this module serialises whole invocations: every tool family's models (runner/spec/invocation.py)
complete_invocation_model()

Phase = Literal["Queued", "Running", "Succeeded", "Failed", "Cancelled"]
FINAL: frozenset[str] = frozenset({"Succeeded", "Failed", "Cancelled"})
SELECTOR = f"{L.NAME}={L.APP},{L.COMPONENT}=record"
EXPIRES = "toolpod.dev/expires-at"
ALIVE = "toolpod.dev/alive-at"
DEFAULT_RETENTION_S = 600
#: How many ids' last written records ``Records`` keeps for their next update.
REMEMBERED = 4096


@dataclass(frozen=True)
class Record:
    id: str
    namespace: str
    phase: Phase
    exit_code: int | None = None
    result: dict[str, Any] | None = None
    reason: str | None = None
    job: str | None = None
    created_at: str = ""
    finished_at: str | None = None

    @property
    def final(self) -> bool:
        return self.phase in FINAL

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def outcome(self) -> Outcome:
        """The outcome a finished record stands for (what the executor's futures carry)."""
        assert self.final
        assert self.result is not None
        assert self.exit_code is not None
        return Outcome(self.result["status"], self.exit_code, self.result, self.reason or "")


def age_s(rec: Record) -> float:
    """Seconds since the record was created."""
    created = datetime.fromisoformat(rec.created_at.replace("Z", "+00:00"))
    return (datetime.now(UTC) - created).total_seconds()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def name(inv_id: str) -> str:
    return f"toolpod-{inv_id}-record"


def digest(inv: Invocation) -> str:
    """The invocation as validated (defaults applied, id included), canonically serialised."""
    body = inv.model_dump(mode="json", exclude_none=True)
    body["id"] = inv.invocation_id
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def phase_of(outcome: Outcome) -> Phase:
    if outcome.status == "success":
        return "Succeeded"
    return "Cancelled" if outcome.status == "cancelled" else "Failed"


def finished(rec: Record, outcome: Outcome) -> Record:
    return replace(
        rec,
        phase=phase_of(outcome),
        exit_code=outcome.exit_code,
        result=outcome.result,
        reason=outcome.reason,
        finished_at=now(),
    )


def manifest(
    rec: Record,
    dig: str,
    retention_s: int,
    execution_id: str | None = None,
    owners: tuple[Mapping[str, Any], ...] = (),
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name(rec.id),
        "namespace": rec.namespace,
        "labels": {L.NAME: L.APP, L.COMPONENT: "record", L.INVOCATION: rec.id},
        "annotations": {L.EXECUTION_ID: execution_id} if execution_id else {},
    }
    if owners:  # the chart's anchor (Settings.owner): uninstalling it removes the record too
        meta["ownerReferences"] = [dict(o) for o in owners]
    if rec.final:
        expires = datetime.now(UTC) + timedelta(seconds=retention_s)
        meta["annotations"][EXPIRES] = expires.isoformat(timespec="seconds")
    data = {"record.json": json.dumps(rec.as_json(), separators=(",", ":")), "digest": dig}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def parse(cm: dict[str, Any]) -> tuple[Record, str]:
    """(record, digest) from its ConfigMap."""
    data = cm.get("data") or {}
    fields = json.loads(data.get("record.json") or "{}")
    return Record(**fields), str(data.get("digest") or "")


class Records:
    """The records of one namespace, through the API server: every read asks it (any replica,
    any process reads the same). Only an update's first try starts from the record as this
    process last claimed or wrote it, without reading it first: the write is conditional on
    that version, so a record someone else changed meanwhile is refused (409), re-read and
    the change applied to what it holds now (the answer's path saves a read)."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        retention_s: int = DEFAULT_RETENTION_S,
        owners: tuple[Mapping[str, Any], ...] = (),
    ):
        self.kube, self.namespace, self.retention_s = kube, namespace, retention_s
        self.owners = owners
        #: id -> the record's ConfigMap as this process last claimed or wrote it (not final).
        self._last: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, inv: Invocation, phase: Phase = "Running") -> tuple[Record, bool]:
        """(record, created): create the invocation's record, or read the existing one;
        ``IdConflict`` when that one was made for a different invocation."""
        inv_id, dig = inv.invocation_id, digest(inv)
        rec = Record(inv_id, self.namespace, phase, job=job_name(inv_id), created_at=now())
        body = manifest(rec, dig, self.retention_s, inv.execution_id, self.owners)
        cm, created = self.kube.create_or_get(body)
        existing, existing_digest = parse(cm)
        if not created and existing_digest != dig:
            raise _conflict(inv_id, self.namespace)
        self._remember(inv_id, cm, existing)
        return existing, created

    def existing(self, inv: Invocation) -> Record | None:
        """The id's record when there is one for this very invocation (``IdConflict`` when it
        was made for another), without creating anything."""
        cm = self.kube.get("v1", "ConfigMap", self.namespace, name(inv.invocation_id))
        if cm is None:
            return None
        rec, dig = parse(cm)
        if dig != digest(inv):
            raise _conflict(inv.invocation_id, self.namespace)
        return rec

    def get(self, inv_id: str) -> Record | None:
        cm = self.kube.get("v1", "ConfigMap", self.namespace, name(inv_id))
        return None if cm is None else parse(cm)[0]

    def set_phase(self, inv_id: str, phase: Phase) -> Record:
        """Queued -> Running (never over a final record: a cancelled one stays so), stamped
        alive: a record queued long ago is not an orphan the moment it starts."""

        def change(rec: Record) -> Record:
            return rec if rec.final else replace(rec, phase=phase)

        return self._update(inv_id, change, alive=True)

    def finish(self, inv_id: str, outcome: Outcome) -> Record:
        """Write the final record once; the first writer wins (every later one, in this
        process or another replica, reads back what the first wrote)."""
        return self._update(inv_id, lambda rec: rec if rec.final else finished(rec, outcome))

    def abandon(self, inv_id: str, outcome: Outcome) -> Record:
        """Finish a record only while it is still Queued (one that was set Running since is
        being started: it is left alone); what the record is afterwards."""

        def change(rec: Record) -> Record:
            return finished(rec, outcome) if rec.phase == "Queued" else rec

        return self._update(inv_id, change)

    def touch(self, inv_id: str) -> None:
        """Mark a queued record alive now (its replica's heartbeat)."""
        patch = {"metadata": {"annotations": {ALIVE: now()}}}
        self.kube.merge_patch("v1", "ConfigMap", self.namespace, name(inv_id), patch)

    def _update(
        self, inv_id: str, change: Callable[[Record], Record], alive: bool = False
    ) -> Record:
        with self._lock:
            remembered = self._last.pop(inv_id, None)
        for _ in range(6):
            cm = remembered or self.kube.get("v1", "ConfigMap", self.namespace, name(inv_id))
            if cm is None:
                raise NotFound(404, "NotFound", f"record of invocation '{inv_id}' is gone")
            rec, dig = parse(cm)
            new = change(rec)
            if new == rec and remembered:  # nothing to write: say what the record holds now
                remembered = None
                continue
            if new == rec:
                return rec
            body = manifest(new, dig, self.retention_s, owners=self.owners)
            if alive:
                body["metadata"]["annotations"][ALIVE] = now()
            # resourceVersion makes the patch conditional: a concurrent writer -> 409, re-read.
            body["metadata"]["resourceVersion"] = cm["metadata"]["resourceVersion"]
            try:
                written = self.kube.merge_patch(
                    "v1", "ConfigMap", self.namespace, name(inv_id), body
                )
            except Conflict:
                remembered = None
                continue
            self._remember(inv_id, written, new)
            return new
        raise Conflict(409, "Conflict", f"record of invocation '{inv_id}' keeps changing")

    def _remember(self, inv_id: str, cm: dict[str, Any], rec: Record) -> None:
        """Keep what the next update of this id starts from; a final record changes no more.
        At most ``REMEMBERED`` ids (oldest forgotten: their update reads first)."""
        if rec.final:
            return
        with self._lock:  # claims and finishes of different ids run on different threads
            self._last[inv_id] = cm
            while len(self._last) > REMEMBERED:
                self._last.pop(next(iter(self._last)))

    def list(self, execution_id: str | None = None) -> list[Record]:
        """Every record of the namespace, or those of one execution, oldest first."""
        items, _ = self.kube.list("v1", "ConfigMap", self.namespace, SELECTOR)
        if execution_id is not None:
            items = [cm for cm in items if _annotation(cm, L.EXECUTION_ID) == execution_id]
        return sorted((parse(cm)[0] for cm in items), key=lambda r: (r.created_at, r.id))

    def sweep(self) -> int:
        """Delete the records whose retention has passed; how many."""
        items, _ = self.kube.list("v1", "ConfigMap", self.namespace, SELECTOR)
        doomed = [cm["metadata"]["name"] for cm in items if expired(cm)]
        return sum(self.kube.delete("v1", "ConfigMap", self.namespace, n) for n in doomed)

    def delete(self, inv_id: str) -> None:
        with self._lock:
            self._last.pop(inv_id, None)
        self.kube.delete("v1", "ConfigMap", self.namespace, name(inv_id))


def _annotation(cm: dict[str, Any], key: str) -> str | None:
    return (cm["metadata"].get("annotations") or {}).get(key)


def _conflict(inv_id: str, namespace: str) -> IdConflict:
    return IdConflict(
        f"id '{inv_id}' is already used by a different invocation in namespace {namespace}; "
        "use another id or resubmit the same invocation"
    )


def list_everywhere(kube: Kube) -> list[dict[str, Any]]:
    """Every record ConfigMap of the cluster (the service's recovery and sweep)."""
    out = kube.call("GET", "/api/v1/configmaps", query=[("labelSelector", SELECTOR)])
    return list(out.get("items") or [])


def list_in(kube: Kube, namespaces: Iterable[str]) -> list[dict[str, Any]]:
    """The record ConfigMaps of these namespaces: a service whose Roles reach only them
    (the chart without ``watch.clusterWide``) may not list across the cluster."""
    found: list[dict[str, Any]] = []
    for ns in namespaces:
        items, _ = kube.list("v1", "ConfigMap", ns, SELECTOR)
        found += items
    return found


def alive_at(cm: dict[str, Any]) -> str | None:
    """When a live replica last vouched for this record (None: never since its claim)."""
    return _annotation(cm, ALIVE)


def expired(cm: dict[str, Any]) -> bool:
    expires = _annotation(cm, EXPIRES)
    return bool(expires) and str(expires) < datetime.now(UTC).isoformat(timespec="seconds")
