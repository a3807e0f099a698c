"""The tracker: watch events for many invocations resolve the right futures (scripted events
delivered through the handlers the informers would call; no threads, no API server)."""

from __future__ import annotations

import json
from typing import Any

from controller.outcome import NEED_READ, Outcome
from controller.tracker import Tracker
from controller.watch import Handlers, Informer
from runner import contract as C


def scripted(kv_buckets: list[tuple[str, str]] | None = None) -> tuple[Tracker, dict[str, Handlers]]:
    handlers: dict[str, Handlers] = {}

    def informer(_api: str, kind: str, _selector: str, h: Handlers) -> Informer:
        handlers[kind] = h
        return Informer(kind, lambda: ([], "1"), lambda _rv: iter(()), h)

    seen = kv_buckets.append if kv_buckets is not None else None
    return Tracker(informer, lambda b, a: seen((b, a)) if seen else None), handlers


def job(inv: str, uid: str = "u1", *conditions: str) -> dict[str, Any]:
    conds = [{"type": c, "status": "True", "reason": c} for c in conditions]
    meta = {"name": f"toolpod-{inv}", "uid": uid, "labels": {"toolpod.dev/invocation": inv}}
    return {"metadata": meta, "status": {"conditions": conds}}


def cm(inv: str, result: dict[str, Any] | None, uid: str = "u1") -> dict[str, Any]:
    meta = {"name": f"toolpod-{inv}-result", "labels": {"toolpod.dev/invocation": inv},
            "ownerReferences": [{"uid": uid}]}
    return {"metadata": meta, "data": {"result.json": json.dumps(result)} if result else {}}


def test_each_invocation_resolves_on_its_own_events() -> None:
    t, h = scripted()
    a, b = t.watch("a"), t.watch("b")
    h["Job"].event("ADDED", job("a"))
    h["Job"].event("ADDED", job("b"))
    h["ConfigMap"].event("ADDED", cm("a", None))
    h["ConfigMap"].event("MODIFIED", cm("a", {"status": "success", "data": {"x": 1}}))
    assert not a.done()
    assert not b.done()
    h["Job"].event("MODIFIED", job("a", "u1", "SuccessCriteriaMet"))
    assert a.done()
    assert not b.done()
    outcome = a.result()
    assert isinstance(outcome, Outcome)
    assert outcome.result["data"] == {"x": 1}


def test_a_waiter_registered_after_the_fact_resolves_at_once() -> None:
    t, h = scripted()
    h["Job"].replace([job("late", "u1", "FailureTarget")])
    h["ConfigMap"].replace([cm("late", None)])
    assert t.watch("late").result(0) is NEED_READ


def test_a_job_missing_from_a_relist_counts_as_deleted() -> None:
    t, h = scripted()
    h["Job"].replace([job("gone")])
    fut = t.watch("gone")
    h["Job"].replace([])
    outcome = fut.result(0)
    assert isinstance(outcome, Outcome)
    assert outcome.reason == "Deleted"


def test_a_new_job_under_the_same_id_starts_afresh() -> None:
    t, h = scripted()
    h["Job"].event("ADDED", job("x", "old"))
    h["Job"].event("DELETED", job("x", "old"))
    fut = t.watch("x", uid="new")  # as the executor does for the Job it just created
    assert not fut.done()
    h["Job"].event("ADDED", job("x", "new"))
    h["Job"].event("MODIFIED", job("x", "new", "FailureTarget"))
    assert fut.result(0) is NEED_READ or fut.result(0).reason != "Deleted"


def test_cancel_resolves_waiters() -> None:
    t, h = scripted()
    h["Job"].event("ADDED", job("c"))
    fut = t.watch("c")
    t.cancel("c")
    outcome = fut.result(0)
    assert isinstance(outcome, Outcome)
    assert outcome.status == "cancelled"
    assert t.ids() == ["c"]


def test_an_invocation_is_forgotten_once_its_objects_are_gone() -> None:
    t, h = scripted()
    pod = {"metadata": {"name": "p", "labels": {"toolpod.dev/invocation": "old"}}, "status": {}}
    h["Job"].event("ADDED", job("old"))
    h["Pod"].event("ADDED", pod)
    h["Job"].event("DELETED", job("old"))
    assert t.observed("old") is not None  # its Pod is still there
    h["Pod"].event("DELETED", pod)
    assert t.observed("old") is None
    assert t.ids() == []


def kv_job(inv: str, bucket: str = "results", *conditions: str) -> dict[str, Any]:
    j = job(inv, "u1", *conditions)
    sink = {C.RESULT_SINK_ANNOTATION: f"nats-kv:{bucket}", C.RESULT_AUTH_ANNOTATION: "nats"}
    j["metadata"]["annotations"] = sink
    return j


def test_a_job_writing_to_nats_kv_starts_its_buckets_watcher() -> None:
    buckets: list[tuple[str, str]] = []
    _t, h = scripted(buckets)
    h["Job"].replace([kv_job("a", "one"), job("b")])
    h["Job"].event("ADDED", kv_job("c", "two"))
    assert sorted(set(buckets)) == [("one", "nats"), ("two", "nats")]


def test_kv_values_reach_only_invocations_whose_job_writes_to_that_bucket() -> None:
    t, h = scripted([])
    h["Job"].event("ADDED", kv_job("a", "results"))
    t.kv_value("results", "a", "{}")
    t.kv_value("other", "a", "not ours")
    t.kv_value("results", "someone-elses-key", "{}")
    obs = t.observed("a")
    assert obs is not None
    assert obs.kv_value == "{}"
    assert t.observed("someone-elses-key") is None


def pod(inv: str, name: str = "p1") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"toolpod.dev/invocation": inv}}}


def test_gone_waits_for_the_pods_not_only_the_job() -> None:
    # A deleted Job vanishes at once; its Pod stays Terminating until the kubelet stops it.
    # The service's in-flight slot follows the Pod (docs/service.md, Backpressure).
    t, h = scripted()
    h["Job"].event("ADDED", job("a"))
    h["Pod"].event("ADDED", pod("a"))
    h["ConfigMap"].event("ADDED", cm("a", None))
    gone = t.gone("a")
    h["Job"].event("DELETED", job("a"))
    h["ConfigMap"].event("DELETED", cm("a", None))
    assert not gone.done()
    h["Pod"].event("MODIFIED", pod("a"))  # Terminating: still on the node
    assert not gone.done()
    h["Pod"].event("DELETED", pod("a"))
    assert gone.result(0) is None


def test_gone_is_settled_by_a_relist_that_no_longer_holds_the_pod() -> None:
    t, h = scripted()
    h["Job"].replace([job("b")])
    h["Pod"].replace([pod("b")])
    gone = t.gone("b")
    h["Job"].replace([])
    assert not gone.done()
    h["Pod"].replace([])  # deleted while the watch was broken
    assert gone.result(0) is None


def test_gone_of_an_invocation_already_forgotten_is_done_at_once() -> None:
    t, _ = scripted()
    assert t.gone("never-seen-or-pruned").result(0) is None
