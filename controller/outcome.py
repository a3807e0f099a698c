"""An invocation's outcome from what the cluster shows: pure functions over API objects (dicts).

    result record present ─────────────────────────────▶ that result, the runner's exit code
    Job FailureTarget/Failed: DeadlineExceeded ────────▶ status timeout, exit 5
    Job failed, no record: OOMKilled · evicted · crash ─▶ status error, exit 5, reason in error
    Pod waiting on ErrImagePull/ImagePullBackOff/... ──▶ status error, exit 5, at once
    runner exited 0/2/4 with its whole record ─────────▶ that result, before the Job's condition
    Job gone before it finished ───────────────────────▶ status error (or cancelled), exit 5

The *result record* is the runner's last word: the container's termination message when it
holds the whole ToolResult (the runner writes it after every sink write, so it is never an
intermediate version). A result over the message's 4 KiB leaves a summary there whose
``data.sha256`` names the final record's bytes; the record itself then comes from the sink the
Job writes to (``result.json`` of its ConfigMap, or its key in the NATS KV bucket, as the shared
watches delivered them) once their bytes match. A drain writes its record twice (before and
after the ack), so a watch that has not caught up yet shows the earlier one: then the sink is
read once directly (``NEED_READ``). The earliest terminal Job condition counts:
``SuccessCriteriaMet``/``FailureTarget`` (Kubernetes 1.31+) come before ``Complete``/``Failed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from controller import labels as L
from controller.last_word import is_last_word
from runner import contract as C
from runner.result import ToolResult

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
    #: The invocation's value in the Job's NATS KV result bucket, as the bucket's watcher saw it.
    kv_value: str | None = None
    #: True once the KV value was read directly after the runner exited (not the watcher's).
    kv_fresh: bool = False

    def copy(self) -> Observed:
        return replace(self, pods=dict(self.pods))


class NeedResultRead:
    """The runner is done but the watched sink does not (yet) show its final record: read the
    sink once, directly, then decide."""


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
        return _final_exit(obs) or _final_in_sink(obs) or _image_failure(obs)
    succeeded, reason, message = done
    if reason == "DeadlineExceeded":
        msg = f"the Job exceeded its deadline (activeDeadlineSeconds): {message}".rstrip(": ")
        return synthetic(obs, "timeout", "timeout", reason, msg)
    attempt, term = last_termination(obs.pods)
    record = result_record(obs, term)
    if isinstance(record, NeedResultRead):
        return record
    if record is not None:
        code = int(term["exitCode"]) if term and "exitCode" in term else exit_code_of(record)
        status: Status = record.status
        return Outcome(status, code, _as_result(obs, record, attempt), reason)
    return _failure_without_result(obs, succeeded, reason, message, term)


def _final_exit(obs: Observed) -> Outcome | None:
    """The earliest signal of all: the runner exited with a code the Job cannot retry (0: one
    completion is all it needs; 2, 4: FailJob) and its final record is known. The Job's own
    condition follows a status round trip later; exit 3 and crashes wait for it (a retry
    may follow)."""
    attempt, term = last_termination(obs.pods)
    if not term or term.get("exitCode") not in C.FINAL_EXIT_CODES:
        return None
    record = _final_record(obs, term)
    if record is None:
        return None
    reason = "Succeeded" if term["exitCode"] == 0 else "PodFailurePolicy"
    return Outcome(record.status, int(term["exitCode"]), _as_result(obs, record, attempt), reason)


def _final_in_sink(obs: Observed) -> Outcome | None:
    """Earlier still: the runner's final record as its sink shows it, while the runner exits
    (``controller.last_word`` says which records are final). Only while the newest Pod has not
    terminated: once it has, its termination message (and the digest check) decides, and a
    crash after a final record waits for the Job, which may start a retry."""
    attempt, pod = newest_pod(obs.pods)
    if pod is None or _runner_terminated(pod) or obs.job is None:
        return None
    record = parse_record(_sink_text(obs)[0])
    if record is None or not is_last_word(record, obs.job, code := exit_code_of(record)):
        return None
    reason = "Succeeded" if code == C.EXIT_OK else "PodFailurePolicy"
    return Outcome(record.status, code, _as_result(obs, record, attempt), reason)


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


def _as_result(obs: Observed, record: ToolResult, attempt: int | None) -> dict[str, Any]:
    """The record, plus the validation warnings the controller saw (clamps) that the runner,
    reading already-clamped values, could not repeat, and the attempt it was: the runner
    cannot know its Pod's place among the Job's retries, the controller can count them."""
    out = record.model_dump(mode="json")
    if attempt is not None:
        out["attempt"] = max(attempt, record.attempt)
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
    return replace(obs, pods=pods, configmap=cm)


def last_termination(pods: dict[str, dict[str, Any]]) -> tuple[int | None, dict[str, Any] | None]:
    """(attempt, the runner container's terminated state) of the newest Pod that has one; the
    attempt is that Pod's place (1-based) among the Job's Pods in creation order."""
    ordered = _by_creation(pods)
    for index in range(len(ordered) - 1, -1, -1):
        for cs in (ordered[index].get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if cs.get("name") == C.CONTAINER and term:
                return index + 1, dict(term)
    return None, None


def _by_creation(pods: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        pods.values(),
        key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "", name_of(p)),
    )


def newest_pod(pods: dict[str, dict[str, Any]]) -> tuple[int | None, dict[str, Any] | None]:
    """(attempt, Pod) of the Job's newest Pod, the attempt its place (1-based) in creation
    order; (None, None) when there is none."""
    ordered = _by_creation(pods)
    return (len(ordered), ordered[-1]) if ordered else (None, None)


def _runner_terminated(pod: dict[str, Any]) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(
        cs.get("name") == C.CONTAINER and (cs.get("state") or {}).get("terminated")
        for cs in statuses
    )


def name_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def kv_sink_of(job: dict[str, Any] | None) -> tuple[str, str] | None:
    """(bucket, credential alias) when the Job's runner writes its result to NATS KV."""
    return C.nats_kv_sink(_annotations(job))


def _sink_text(obs: Observed) -> tuple[str | None, bool, bool]:
    """(the record as the Job's sink holds it, whether that was read directly, whether the
    sink has an object to read at all)."""
    if kv_sink_of(obs.job) is not None:
        return obs.kv_value, obs.kv_fresh, True
    text = ((obs.configmap or {}).get("data") or {}).get(C.RESULT_KEY)
    return text, obs.configmap_fresh, obs.configmap is not None


def _final_record(obs: Observed, term: dict[str, Any]) -> ToolResult | None:
    """The record the runner wrote last, when it is known for certain: the termination message,
    or the sink's bytes that the message's summary names."""
    from_term = parse_record(term.get("message"))
    digest = C.summary_digest(from_term.data) if from_term is not None else None
    if digest is None:
        return from_term
    text, _fresh, _exists = _sink_text(obs)
    return parse_record(text) if text is not None and C.summarizes(digest, text) else None


def result_record(obs: Observed, term: dict[str, Any] | None) -> ToolResult | NeedResultRead | None:
    """The runner's final record once the Job finished; ``NEED_READ`` when the watched sink is
    behind; None when the runner wrote none."""
    if term is not None and (record := _final_record(obs, term)) is not None:
        return record
    from_term = parse_record((term or {}).get("message"))
    text, fresh, exists = _sink_text(obs)
    if not fresh and (from_term is not None or (exists and parse_record(text) is None)):
        return NEED_READ  # a summary the watched sink does not match yet, or an empty result
    # Read directly after the runner exited, the sink holds its last write; with no summary
    # (an older runner) or no termination message (a crash) the sink is all there is.
    return parse_record(text) or from_term


def parse_record(text: Any) -> ToolResult | None:
    """A ToolResult from the JSON a runner wrote, None when it is not one."""
    if not isinstance(text, str) or not text.strip().startswith("{"):
        return None
    try:
        return ToolResult.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        return None


def exit_code_of(record: ToolResult) -> int:
    """The runner's exit code for a record when no Pod is left to say it (docs/reference.md §4)."""
    if record.status == "success":
        return C.EXIT_OK
    if record.error and record.error.kind == "result_too_large":
        return C.EXIT_RESULT_NOT_WRITTEN
    return C.EXIT_TRANSIENT if record.error and record.error.retriable else C.EXIT_PERMANENT


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
    return Outcome(status, C.EXIT_NO_RESULT, record, reason)
