"""``controller.outcome.decide`` over scripted API objects (the dicts the watches deliver)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from controller.outcome import NEED_READ, Observed, Outcome, decide
from runner import contract as C

UID = "job-uid-1"
RESULT_OK = {"status": "success", "data": {"value": 1}, "invocation_id": "i1"}
RESULT_2 = {
    "status": "error",
    "error": {"kind": "execution", "message": "bucket 'x' not found", "retriable": False},
    "invocation_id": "i1",
}


def job(*conditions: tuple[str, str], **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "toolpod-i1",
            "uid": UID,
            "labels": {"toolpod.dev/invocation": "i1", "toolpod.dev/tool": "nats", "toolpod.dev/operation": "kv_get"},
            "annotations": {"toolpod.dev/execution-id": "e1", "toolpod.dev/step": "s", **annotations},
        },
        "spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"memory": "32Mi"}}}]}}},
        "status": {
            "conditions": [
                {"type": t, "status": "True", "reason": r, "message": f"{t} because {r}"}
                for t, r in conditions
            ]
        },
    }


def pod(
    name: str = "p1", *, terminated: dict[str, Any] | None = None, waiting: str | None = None,
    created: str = "2026-01-01T00:00:00Z", owner: str = UID, **status: Any,
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if terminated is not None:
        state["terminated"] = terminated
    if waiting:
        state["waiting"] = {"reason": waiting, "message": "no such image"}
    return {
        "metadata": {"name": name, "creationTimestamp": created, "ownerReferences": [{"uid": owner}]},
        "status": {"containerStatuses": [{"name": "runner", "image": "img:x", "state": state}], **status},
    }


def cm(result: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {"result.json": json.dumps(result)} if result else {}
    return {"metadata": {"name": "toolpod-i1-result", "ownerReferences": [{"uid": UID}]}, "data": data}


def outcome(obs: Observed) -> Outcome:
    d = decide(obs)
    assert isinstance(d, Outcome), d
    return d


@pytest.mark.parametrize(("code", "record"), [(0, RESULT_OK), (2, RESULT_2)])
def test_a_final_exit_with_its_record_decides_before_the_job_condition(code: int, record: dict[str, Any]) -> None:
    term = {"exitCode": code, "message": json.dumps(record)}
    o = outcome(Observed(job=job(), pods={"p1": pod(terminated=term)}, configmap=cm()))
    assert (o.status, o.exit_code) == (record["status"], code)


def test_exit_3_waits_for_the_job_a_retry_may_follow() -> None:
    term = {"exitCode": 3, "message": json.dumps(RESULT_2)}
    assert decide(Observed(job=job(), pods={"p1": pod(terminated=term)}, configmap=cm())) is None


def test_the_controllers_validation_warnings_join_the_runners() -> None:
    j = job(("Complete", "x"), **{"toolpod.dev/warnings": json.dumps(["batch clamped", "w2"])})
    record = {**RESULT_OK, "warnings": ["w2"]}
    o = outcome(Observed(job=j, configmap=cm(record)))
    assert o.result["warnings"] == ["batch clamped", "w2"]


def test_running_job_has_no_outcome() -> None:
    assert decide(Observed(job=job(), pods={"p1": pod()}, configmap=cm())) is None


@pytest.mark.parametrize("condition", ["SuccessCriteriaMet", "Complete"])
def test_success_from_the_earliest_condition_and_the_result_configmap(condition: str) -> None:
    o = outcome(Observed(job=job((condition, "CompletionsReached")), configmap=cm(RESULT_OK)))
    assert (o.status, o.exit_code, o.result["data"]) == ("success", 0, {"value": 1})


def test_the_termination_message_is_the_final_record() -> None:
    final = {**RESULT_OK, "data": {"acked": True}}
    term = {"exitCode": 0, "message": json.dumps(final)}
    o = outcome(Observed(job=job(("Complete", "x")), pods={"p1": pod(terminated=term)},
                         configmap=cm({**RESULT_OK, "data": {"acked": False}})))
    assert o.result["data"] == {"acked": True}


def summary(record: dict[str, Any], code: int = 0) -> dict[str, Any]:
    """The termination state a runner leaves for a record over 4 KiB (runner/cli.py)."""
    digest = hashlib.sha256(json.dumps(record).encode()).hexdigest()
    return {"exitCode": code, "message": json.dumps({**record, "data": {"truncated": True, "sha256": digest}})}


def kv_job(*conditions: tuple[str, str]) -> dict[str, Any]:
    sink = {C.RESULT_SINK_ANNOTATION: "nats-kv:results", C.RESULT_AUTH_ANNOTATION: "nats"}
    return job(*conditions, **sink)


FINAL = {**RESULT_OK, "data": {"messages": ["x" * 5000], "acked": True}}
BEFORE_ACK = {**RESULT_OK, "data": {"messages": ["x" * 5000], "acked": False}}


def test_a_summary_defers_to_the_configmap_holding_the_bytes_it_names() -> None:
    obs = Observed(job=job(), pods={"p1": pod(terminated=summary(FINAL))}, configmap=cm(FINAL))
    o = outcome(obs)  # at the runner's exit already, before the Job's condition
    assert (o.status, o.reason, o.result["data"]["acked"]) == ("success", "Succeeded", True)


def test_a_configmap_still_showing_the_write_before_the_ack_is_read_again() -> None:
    obs = Observed(job=job(("Complete", "x")), pods={"p1": pod(terminated=summary(FINAL))}, configmap=cm(BEFORE_ACK))
    assert decide(obs) is NEED_READ
    obs.configmap, obs.configmap_fresh = cm(FINAL), True
    assert outcome(obs).result["data"]["acked"] is True


def test_a_kv_result_comes_from_the_bucket_watcher_once_it_shows_the_final_record() -> None:
    obs = Observed(job=kv_job(), pods={"p1": pod(terminated=summary(FINAL))}, kv_value=json.dumps(BEFORE_ACK))
    assert decide(obs) is None  # the Job still runs: wait for the watcher (or the Job's end)
    obs.kv_value = json.dumps(FINAL)
    assert outcome(obs).result["data"]["acked"] is True


def test_a_kv_watcher_behind_when_the_job_ends_means_one_direct_read() -> None:
    obs = Observed(job=kv_job(("Complete", "x")), pods={"p1": pod(terminated=summary(FINAL))})
    assert decide(obs) is NEED_READ
    obs.kv_value, obs.kv_fresh = json.dumps(FINAL), True
    assert outcome(obs).result["data"]["acked"] is True


def test_an_unreadable_kv_result_leaves_the_summary() -> None:
    obs = Observed(job=kv_job(("Complete", "x")), pods={"p1": pod(terminated=summary(FINAL))}, kv_fresh=True)
    o = outcome(obs)
    assert (o.status, o.result["data"]["truncated"]) == ("success", True)


def test_a_kv_sink_ignores_the_configmap() -> None:
    obs = Observed(job=kv_job(("Complete", "x")), pods={"p1": pod(terminated=summary(FINAL))}, configmap=cm(FINAL),
                   kv_value=json.dumps(FINAL))
    assert outcome(obs).result["data"] == FINAL["data"]


def test_finished_but_the_cached_configmap_is_empty_reads_it_once() -> None:
    obs = Observed(job=job(("SuccessCriteriaMet", "x")), configmap=cm())
    assert decide(obs) is NEED_READ
    obs.configmap_fresh = True
    o = outcome(obs)
    assert (o.status, o.exit_code, o.reason) == ("error", 5, "NoResult")


def test_runner_exit_2_keeps_its_code_and_result() -> None:
    term = {"exitCode": 2, "message": json.dumps(RESULT_2)}
    o = outcome(Observed(job=job(("FailureTarget", "PodFailurePolicy")), pods={"p1": pod(terminated=term)}, configmap=cm(RESULT_2)))
    assert (o.status, o.exit_code) == ("error", 2)
    assert "bucket 'x'" in o.result["error"]["message"]


def test_exit_code_from_the_record_when_no_pod_is_left() -> None:
    transient = {**RESULT_2, "error": {"kind": "connection", "message": "refused", "retriable": True}}
    o = outcome(Observed(job=job(("Failed", "BackoffLimitExceeded")), configmap=cm(transient)))
    assert o.exit_code == 3


def test_deadline_exceeded_is_a_timeout_without_a_result() -> None:
    o = outcome(Observed(job=job(("FailureTarget", "DeadlineExceeded")), configmap=cm()))
    assert (o.status, o.exit_code, o.reason) == ("timeout", 5, "DeadlineExceeded")
    assert o.result["error"]["kind"] == "timeout"
    assert o.result["invocation_id"] == "i1"
    assert o.result["execution_id"] == "e1"


def test_oom_killed() -> None:
    term = {"exitCode": 137, "reason": "OOMKilled"}
    o = outcome(Observed(job=job(("Failed", "BackoffLimitExceeded")), pods={"p1": pod(terminated=term)}, configmap=cm(), configmap_fresh=True))
    assert (o.status, o.exit_code, o.reason) == ("error", 5, "OOMKilled")
    assert "32Mi" in o.result["error"]["message"]


def test_crash_reports_exit_code_and_termination_message() -> None:
    term = {"exitCode": 139, "reason": "Error", "message": "Traceback: boom"}
    o = outcome(Observed(job=job(("Failed", "BackoffLimitExceeded")), pods={"p1": pod(terminated=term)}, configmap=cm(), configmap_fresh=True))
    assert o.reason == "Crashed"
    assert "139" in o.result["error"]["message"]
    assert "boom" in o.result["error"]["message"]


def test_eviction() -> None:
    evicted = pod(reason="Evicted", message="node low on memory")
    o = outcome(Observed(job=job(("Failed", "BackoffLimitExceeded")), pods={"p1": evicted}, configmap=cm(), configmap_fresh=True))
    assert o.reason == "Evicted"


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"])
def test_image_failures_fail_fast_while_the_job_is_still_active(reason: str) -> None:
    o = outcome(Observed(job=job(), pods={"p1": pod(waiting=reason)}))
    assert (o.status, o.exit_code, o.reason) == ("error", 5, "ImagePull")
    assert reason in o.result["error"]["message"]


def test_container_creating_is_not_a_failure() -> None:
    assert decide(Observed(job=job(), pods={"p1": pod(waiting="ContainerCreating")})) is None


def test_job_deleted_before_it_finished() -> None:
    o = outcome(Observed(job=job(), job_deleted=True))
    assert (o.status, o.exit_code, o.reason) == ("error", 5, "Deleted")


def test_a_deleted_job_that_had_finished_still_gives_its_result() -> None:
    o = outcome(Observed(job=job(("Complete", "x")), job_deleted=True, configmap=cm(RESULT_OK)))
    assert o.status == "success"


@pytest.mark.parametrize("obs", [
    Observed(job=job(), cancelled=True),
    Observed(job=job(**{"toolpod.dev/cancelled": "true"}), job_deleted=True),
])
def test_cancelled(obs: Observed) -> None:
    o = outcome(obs)
    assert (o.status, o.exit_code, o.reason) == ("cancelled", 5, "Cancelled")


def test_pods_and_results_of_an_earlier_job_with_the_same_name_are_ignored() -> None:
    old = pod("old", terminated={"exitCode": 2, "message": json.dumps(RESULT_2)}, owner="old-uid")
    assert decide(Observed(job=job(), pods={"old": old})) is None


def test_newest_pod_wins() -> None:
    first = pod("a", terminated={"exitCode": 3, "message": json.dumps(RESULT_2)}, created="2026-01-01T00:00:00Z")
    second = pod("b", terminated={"exitCode": 0, "message": json.dumps(RESULT_OK)}, created="2026-01-01T00:00:09Z")
    o = outcome(Observed(job=job(("Complete", "x")), pods={"a": first, "b": second}))
    assert (o.status, o.exit_code) == ("success", 0)


def test_the_attempt_is_the_pods_place_among_the_jobs_pods() -> None:
    first = pod("a", terminated={"exitCode": 3, "message": json.dumps(RESULT_2)}, created="2026-01-01T00:00:00Z")
    second = pod("b", terminated={"exitCode": 0, "message": json.dumps(RESULT_OK)}, created="2026-01-01T00:00:09Z")
    assert outcome(Observed(job=job(), pods={"a": first, "b": second})).result["attempt"] == 2
    assert outcome(Observed(job=job(), pods={"b": second})).result["attempt"] == 1
