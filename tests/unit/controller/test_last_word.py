"""The outcome at the runner's final record, before its exit is reported (controller.last_word):
which records in a Job's sink are final, and ``decide`` answering from them while the Pod runs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.outcome import Observed, Outcome, decide
from runner import contract as C

UID = "job-uid-1"
CREATED = "2026-11-30T18:00:00Z"
STARTED = "2026-11-30T18:00:01.250Z"
DRAIN = {
    "count": 2,
    "messages": ["a", "b"],
    "acked": False,
    "ack_mode": "on_success",
    "ack_ids": [],
}
TRANSIENT = {"kind": "connection", "message": "refused", "retriable": True}
PERMANENT = {"kind": "execution", "message": "bucket 'x' not found", "retriable": False}
TOO_LARGE = {"kind": "result_too_large", "message": "over 1 MiB", "retriable": False}


def record(
    status: str = "success", data: Any = None, error: Any = None, **fields: Any
) -> dict[str, Any]:
    base = {
        "status": status,
        "data": data,
        "error": error,
        "invocation_id": "i1",
        "started_at": STARTED,
    }
    return {**base, **fields}


def job(kv: bool = False) -> dict[str, Any]:
    notes = (
        {C.RESULT_SINK_ANNOTATION: "nats-kv:results", C.RESULT_AUTH_ANNOTATION: "nats"}
        if kv
        else {}
    )
    meta = {
        "name": "toolpod-i1",
        "uid": UID,
        "creationTimestamp": CREATED,
        "labels": {"toolpod.dev/invocation": "i1"},
        "annotations": notes,
    }
    return {"metadata": meta, "spec": {}, "status": {}}


def pod(
    name: str = "p1", created: str = CREATED, terminated: dict[str, Any] | None = None
) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"running": {"startedAt": CREATED}}
    meta = {"name": name, "creationTimestamp": created, "ownerReferences": [{"uid": UID}]}
    return {"metadata": meta, "status": {"containerStatuses": [{"name": "runner", "state": state}]}}


def in_configmap(rec: dict[str, Any], **pods: dict[str, Any]) -> Observed:
    cm = {"metadata": {"ownerReferences": [{"uid": UID}]}, "data": {"result.json": json.dumps(rec)}}
    return Observed(job=job(), pods=pods or {"p1": pod()}, configmap=cm)


def in_kv(rec: dict[str, Any]) -> Observed:
    return Observed(job=job(kv=True), pods={"p1": pod()}, kv_value=json.dumps(rec))


FINAL = [
    ("a non-drain's only record", record(data={"value": 1}), 0),
    ("a drain's record after its ack", record(data={**DRAIN, "acked": True}), 0),
    ("a drain that fetched nothing", record(data={**DRAIN, "count": 0, "messages": []}), 0),
    ("a drain under ack mode manual", record(data={**DRAIN, "ack_mode": "manual"}), 0),
    ("a drain under ack mode none", record(data={**DRAIN, "ack_mode": "none"}), 0),
    ("a drain under ack mode defer", record(data={**DRAIN, "ack_mode": "defer"}), 0),
    ("an error a retry cannot fix", record("error", error=PERMANENT), 2),
    ("a result too large for its sink", record("error", error=TOO_LARGE), 4),
]
NOT_YET = [
    ("a drain's record before its ack", record(data=DRAIN)),
    ("a js_consume that may still ack", record(data={"count": 2, "messages": [], "acked": False})),
    ("a transient error: the Job retries", record("error", error=TRANSIENT)),
    ("another invocation's record", record(data={"value": 1}, invocation_id="i2")),
    (
        "an earlier Job's record under the same id",
        record(data={}, started_at="2026-11-30T17:59:59.900Z"),
    ),
    ("a record with no start time", record(data={}, started_at="")),
]


@pytest.mark.parametrize(("case", "rec", "code"), FINAL, ids=[c for c, _, _ in FINAL])
@pytest.mark.parametrize("sink", [in_configmap, in_kv], ids=["configmap", "nats_kv"])
def test_a_final_record_in_the_sink_decides_while_the_runner_still_runs(
    sink: Any, case: str, rec: dict[str, Any], code: int
) -> None:
    decision = decide(sink(rec))
    assert isinstance(decision, Outcome), case
    assert (decision.status, decision.exit_code, decision.result["attempt"]) == (
        rec["status"],
        code,
        1,
    )
    assert decision.reason == ("Succeeded" if code == 0 else "PodFailurePolicy")


@pytest.mark.parametrize(("case", "rec"), NOT_YET, ids=[c for c, _ in NOT_YET])
@pytest.mark.parametrize("sink", [in_configmap, in_kv], ids=["configmap", "nats_kv"])
def test_any_other_record_waits_for_the_runners_exit(
    sink: Any, case: str, rec: dict[str, Any]
) -> None:
    assert decide(sink(rec)) is None, case


def test_once_the_runner_has_exited_its_termination_message_decides_not_the_sink() -> None:
    crashed = pod(terminated={"exitCode": 137, "reason": "Error", "message": ""})
    assert decide(in_configmap(record(data={"value": 1}), p1=crashed)) is None  # a retry may follow


def test_a_retrys_final_record_decides_with_the_retry_as_its_attempt() -> None:
    first = pod(
        "p1", terminated={"exitCode": 3, "message": json.dumps(record("error", error=TRANSIENT))}
    )
    second = pod("p2", created="2026-11-30T18:00:05Z")
    decision = decide(in_configmap(record(data={"value": 1}), p1=first, p2=second))
    assert isinstance(decision, Outcome)
    assert (decision.status, decision.result["attempt"]) == ("success", 2)


def test_no_pod_yet_means_no_decision() -> None:
    assert decide(Observed(job=job(kv=True), kv_value=json.dumps(record(data={})))) is None
