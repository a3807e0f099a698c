"""A replica that dies with invocations in its in-memory queue leaves their records `Queued`;
when the submitter never retries, every replica's once-a-minute pass finishes them `Failed`,
reason `QueueLost` — but never a live replica's queued record (it heartbeats them) and never one
a retried POST set `Running` first (the record is written conditionally). Run against the
cluster's API server with the service's own engine (`Core`) in this process; no Job runs.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller import records
from controller.api import parse
from controller.k8s import Kube, api_client
from controller.outcome import Observed, synthetic
from controller.service import orphans, recovery
from controller.service.config import ServeConfig
from controller.service.core import Core
from controller.service.metrics import Metrics
from runner.contract import job_name

from ._cluster import Cluster
from .controller_helpers import local_settings, nats_invocation

pytestmark = pytest.mark.cluster
Before = Callable[[Core, str], None]


def backdate(kube: Kube, namespace: str, inv_id: str, seconds: float) -> None:
    """The record was claimed ``seconds`` ago (its replica died then)."""
    cm = kube.get("v1", "ConfigMap", namespace, records.name(inv_id))
    assert cm is not None
    rec = json.loads(cm["data"]["record.json"])
    rec["created_at"] = (
        (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    )
    kube.merge_patch(
        "v1",
        "ConfigMap",
        namespace,
        records.name(inv_id),
        {"data": {"record.json": json.dumps(rec)}},
    )


def nothing(core: Core, inv_id: str) -> None:
    pass


def heartbeated(core: Core, inv_id: str) -> None:
    core.executor(core.config.namespaces[0]).records.touch(inv_id)


def set_running(core: Core, inv_id: str) -> None:
    core.executor(core.config.namespaces[0]).records.set_phase(inv_id, "Running")


# (case, claimed how long ago, what happens before the pass lists the records, and between its
# listing and its write) -> (phase, reason)
CASES = [
    ("abandoned past the bound: QueueLost", 300, nothing, nothing, ("Failed", "QueueLost")),
    ("younger than the bound: still Queued", 30, nothing, nothing, ("Queued", None)),
    (
        "old but heartbeated by a live replica: still Queued",
        3600,
        heartbeated,
        nothing,
        ("Queued", None),
    ),
    (
        "queued an hour, set Running just before the pass (its Job being made): no orphan",
        3600,
        set_running,
        nothing,
        ("Running", None),
    ),
    (
        "set Running by a retried POST after the pass read it Queued: left to it",
        3600,
        nothing,
        set_running,
        ("Running", None),
    ),
]


@pytest.mark.parametrize(
    ("case", "age", "before", "between", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_the_orphan_pass_finishes_only_abandoned_queued_records(
    case: str,
    age: float,
    before: Before,
    between: Before,
    expected: tuple[str, Any],
    cluster: Cluster,
    namespace: str,
    kube: Kube,
) -> None:
    config = ServeConfig(
        settings=local_settings(cluster, namespace), namespaces=(namespace,), only_watched=True
    )
    client = api_client(str(cluster.kubeconfig))
    core = Core(config, client, Metrics())
    inv_id = f"queued-{uuid.uuid4().hex[:8]}"
    try:
        core.executor(namespace).records.claim(
            parse(nats_invocation("kv_get", inv_id, bucket="b", key="k")), "Queued"
        )
        backdate(kube, namespace, inv_id, age)
        before(core, inv_id)
        listed = records.list_in(kube, [namespace])
        between(core, inv_id)
        asyncio.run(orphans.reap_orphans(core, listed))
        rec = core.executor(namespace).records.get(inv_id)
        assert rec is not None
        assert (rec.phase, rec.reason) == expected, rec
        if rec.final:
            assert rec.result is not None
            assert rec.result["error"]["message"] == orphans.QUEUE_LOST
    finally:
        asyncio.run(core.close())
        client.close()


def test_a_replica_deletes_the_job_its_predecessor_left_after_the_final_record_before_ready(
    cluster: Cluster, namespace: str, kube: Kube
) -> None:
    """A replica killed between writing an invocation's final record and deleting its Job left
    that Job for its TTL, beside the maxInFlight Jobs the next replica counts: the next replica
    deletes it before it reports ready. A Job without a record (a CLI's run) is not its own."""
    config = ServeConfig(
        settings=local_settings(cluster, namespace), namespaces=(namespace,), only_watched=True
    )
    client = api_client(str(cluster.kubeconfig))
    core = Core(config, client, Metrics())
    ex = core.executor(namespace)
    finished, cli_run = (f"left-{uuid.uuid4().hex[:8]}" for _ in range(2))
    try:
        for inv_id in (finished, cli_run):
            inv = parse(nats_invocation("kv_get", inv_id, bucket="b", key="k"))
            if inv_id == finished:
                ex.records.claim(inv, "Running")
            ex.start(inv)
        # Its replica recorded the outcome, then died before deleting the Job.
        outcome = synthetic(Observed(), "error", "job_failed", "Test", "recorded, not deleted")
        outcome.result["invocation_id"] = finished
        ex.records.finish(finished, outcome)
        assert kube.get("batch/v1", "Job", namespace, job_name(finished)) is not None

        async def next_replica_starts() -> bool:
            await recovery.become_ready(core)
            return core.ready

        assert asyncio.run(next_replica_starts())
        assert kube.get("batch/v1", "Job", namespace, job_name(finished)) is None
        assert kube.get("batch/v1", "Job", namespace, job_name(cli_run)) is not None
        rec = ex.records.get(finished)
        assert rec is not None
        assert rec.reason == "Test", "the final record stays as it was"
    finally:
        asyncio.run(core.close())
        client.close()
