"""An invocation's outcome from what the cluster shows: pure functions over API objects (dicts).

    result record present ─────────────────────────────▶ that result, the runner's exit code
    Job FailureTarget/Failed: DeadlineExceeded ────────▶ status timeout, exit 5
    Job failed, no record: OOMKilled · evicted · crash ─▶ status error, exit 5, reason in error
    Pod waiting on ErrImagePull/ImagePullBackOff/... ──▶ status error, exit 5, at once
    runner exited 0/2/4 with its whole record ─────────▶ that result, before the Job's condition
    Job gone before it finished ───────────────────────▶ status error (or cancelled), exit 5

The *result record* is the runner's last word: the container's termination message when it
holds the whole ToolResult (the runner writes it after every sink write, so it is never an
intermediate version), else ``result.json`` of the result ConfigMap. The earliest terminal Job
condition counts: ``SuccessCriteriaMet``/``FailureTarget`` (Kubernetes 1.31+) come before
``Complete``/``Failed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from controller import labels as L
from runner.result import ToolResult

EXIT_NO_RESULT = 5
#: Runner exit codes after which the Job cannot start another Pod (see render's podFailurePolicy).
FINAL_EXIT_CODES = (0, 2, 4)
IMAGE_FAILURES = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
)
Status = Literal["success", "error", "timeout", "cancelled"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    exit_code: int
    result: dict[str, Any]
    #: Why: Complete, Failed, DeadlineExceeded, OOMKilled, ImagePull, Evicted, Deleted, ...
    reason: str


@dataclass
class Observed:
    """Everything known about one invocation, as the watches delivered it."""

    job: dict[str, Any] | None = None
    job_deleted: bool = False
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    configmap: dict[str, Any] | None = None
    #: True once the ConfigMap was read from the API after the Job finished (not the cache).
    configmap_fresh: bool = False
    cancelled: bool = False


class NeedResultRead:
    """The Job is done but the cached ConfigMap has no result yet: read it once, then decide."""


NEED_READ = NeedResultRead()


def terminal(job: dict[str, Any]) -> tuple[bool, str, str] | None:
    """(succeeded, reason, message) from the earliest terminal condition, else None."""
    conds = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []}
    for kind, ok in (
        ("SuccessCriteriaMet", True),
        ("FailureTarget", False),
        ("Complete", True),
        ("Failed", False),
    ):
        c = conds.get(kind)
        if c and c.get("status") == "True":
            return ok, str(c.get("reason") or kind), str(c.get("message") or "")
    return None


def decide(obs: Observed) -> Outcome | NeedResultRead | None:
    """The outcome, ``NEED_READ``, or None while the invocation is still running."""
    if obs.cancelled or _annotations(obs.job).get(L.CANCELLED) == "true":
        msg = "the invocation was cancelled"
        return synthetic(obs, "cancelled", "cancelled", "Cancelled", msg)
    obs = _own_only(obs)
    done = terminal(obs.job) if obs.job else None
    if done is None:
        if obs.job_deleted:
            msg = "the Job was deleted before it finished; no result was written"
            return synthetic(obs, "error", "job_failed", "Deleted", msg)
        return _final_exit(obs) or _image_failure(obs)
    succeeded, reason, message = done
    if reason == "DeadlineExceeded":
        msg = f"the Job exceeded its deadline (activeDeadlineSeconds): {message}".rstrip(": ")
        return synthetic(obs, "timeout", "timeout", reason, msg)
    term = last_termination(obs.pods)
    record = result_record(term, obs.configmap)
    if record is None and obs.configmap is not None and not obs.configmap_fresh:
        return NEED_READ
    if record is None:
        # nats_kv sink with a result over the 4 KiB termination message: the summary it left
        record = _parse((term or {}).get("message"))
    if record is not None:
        code = int(term["exitCode"]) if term and "exitCode" in term else exit_code_of(record)
        status: Status = record.status
        return Outcome(status, code, _with_warnings(obs, record), reason)
    return _failure_without_result(obs, succeeded, reason, message, term)


def _final_exit(obs: Observed) -> Outcome | None:
    """The earliest signal of all: the runner exited with a code the Job cannot retry (0: one
    completion is all it needs; 2, 4: FailJob) and left its whole record. The Job's own
    condition follows a status round trip later; exit 3 and crashes wait for it (a retry
    may follow)."""
    term = last_termination(obs.pods)
    if not term or term.get("exitCode") not in FINAL_EXIT_CODES:
        return None
    record = _parse(term.get("message"))
    if record is None or record.data == {"truncated": True}:
        return None
    reason = "Succeeded" if term["exitCode"] == 0 else "PodFailurePolicy"
    return Outcome(record.status, int(term["exitCode"]), _with_warnings(obs, record), reason)


def _image_failure(obs: Observed) -> Outcome | None:
    for pod in obs.pods.values():
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in IMAGE_FAILURES:
                image = cs.get("image", "")
                msg = f"the runner image {image} cannot be pulled: {waiting['reason']}"
                detail = waiting.get("message")
                return synthetic(obs, "error", "job_failed", "ImagePull", _join(msg, detail))
    return None


def _failure_without_result(
    obs: Observed, succeeded: bool, reason: str, message: str, term: dict[str, Any] | None
) -> Outcome:
    if succeeded:
        msg = "the Job completed but the runner wrote no result"
        return synthetic(obs, "error", "job_failed", "NoResult", msg)
    evicted = _evicted(obs.pods)
    if term and term.get("reason") == "OOMKilled":
        msg = f"the runner was OOMKilled (memory limit {_memory_limit(obs.job)})"
        return synthetic(obs, "error", "job_failed", "OOMKilled", msg)
    if term:
        text = (term.get("message") or "").strip()[-1000:]
        msg = f"the runner exited with code {term.get('exitCode')} without a result"
        return synthetic(obs, "error", "job_failed", "Crashed", _join(msg, text))
    if evicted:
        return synthetic(obs, "error", "job_failed", "Evicted", f"the runner Pod was {evicted}")
    msg = _join(f"the Job failed ({reason}) without a result", message)
    return synthetic(obs, "error", "job_failed", reason, msg)


# -- reading the objects -------------------------------------------------------------------


def _with_warnings(obs: Observed, record: ToolResult) -> dict[str, Any]:
    """The record, plus the validation warnings the controller saw (clamps) that the runner,
    reading already-clamped values, could not repeat."""
    out = record.model_dump(mode="json")
    try:
        seen = json.loads(_annotations(obs.job).get(L.WARNINGS) or "[]")
    except ValueError:
        seen = []
    extra = [w for w in seen if isinstance(w, str) and w not in out["warnings"]]
    out["warnings"] = [*extra, *out["warnings"]]
    return out


def _annotations(obj: dict[str, Any] | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("annotations") or {})


def _owner_uids(obj: dict[str, Any]) -> set[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return {str(r.get("uid")) for r in refs}


def _own_only(obs: Observed) -> Observed:
    """Drop Pods and ConfigMaps of an earlier Job under the same id (same name, other uid)."""
    uid = ((obs.job or {}).get("metadata") or {}).get("uid")
    if not uid:
        return obs
    pods = {n: p for n, p in obs.pods.items() if uid in _owner_uids(p)}
    cm = obs.configmap
    if cm is not None and _owner_uids(cm) and uid not in _owner_uids(cm):
        cm = None
    return Observed(obs.job, obs.job_deleted, pods, cm, obs.configmap_fresh, obs.cancelled)


def last_termination(pods: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The runner container's terminated state in the newest Pod that has one."""
    ordered = sorted(
        pods.values(), key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""
    )
    for pod in reversed(ordered):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if cs.get("name") == "runner" and term:
                return dict(term)
    return None


def result_record(term: dict[str, Any] | None, cm: dict[str, Any] | None) -> ToolResult | None:
    from_term = _parse((term or {}).get("message"))
    if from_term is not None and from_term.data != {"truncated": True}:
        return from_term
    return _parse(((cm or {}).get("data") or {}).get("result.json"))


def _parse(text: Any) -> ToolResult | None:
    if not isinstance(text, str) or not text.strip().startswith("{"):
        return None
    try:
        return ToolResult.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None


def exit_code_of(record: ToolResult) -> int:
    """The runner's exit code for a record when no Pod is left to say it (SPEC §4)."""
    if record.status == "success":
        return 0
    if record.error and record.error.kind == "result_too_large":
        return 4
    return 3 if record.error and record.error.retriable else 2


def _evicted(pods: dict[str, dict[str, Any]]) -> str | None:
    for pod in pods.values():
        status = pod.get("status") or {}
        if status.get("reason") == "Evicted":
            return f"evicted: {status.get('message', '')}".rstrip(": ")
        for c in status.get("conditions") or []:
            if c.get("type") == "DisruptionTarget" and c.get("status") == "True":
                return f"disrupted ({c.get('reason')}): {c.get('message', '')}".rstrip(": ")
    return None


def _memory_limit(job: dict[str, Any] | None) -> str:
    try:
        container = job["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
        return str(container["resources"]["limits"]["memory"])
    except (KeyError, IndexError, TypeError):
        return "unknown"


def _join(message: str, detail: str | None) -> str:
    return f"{message}: {detail}" if detail else message


def synthetic(obs: Observed, status: Status, kind: str, reason: str, message: str) -> Outcome:
    """A ToolResult-shaped record for an outcome the runner could not write itself."""
    meta = (obs.job or {}).get("metadata") or {}
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    record = {
        "status": status,
        "data": None,
        "error": {"kind": kind, "reason": reason, "message": message, "retriable": False},
        "warnings": [],
        "invocation_id": labels.get(L.INVOCATION, ""),
        "execution_id": notes.get(L.EXECUTION_ID) or None,
        "step": notes.get(L.STEP) or None,
        "tool": {"kind": labels.get(L.TOOL, ""), "operation": labels.get(L.OPERATION, "")},
    }
    return Outcome(status, EXIT_NO_RESULT, record, reason)
