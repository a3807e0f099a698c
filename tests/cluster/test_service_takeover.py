"""A replica that dies in the middle of a submission leaves the id's record behind without a
running Job; the client's retry of the same POST (the same id and invocation, as it must retry
when the connection broke) starts it on whichever replica it reaches — exactly once. Found by
the chaos suite (e2e/chaos): a controller killed between claiming an id and resuming its Job
left the invocation `Running` for good, and every retry of the POST answered with that record.

Each case makes what the dead replica left with the controller's own executor, then POSTs the
same invocation to a fresh `toolpod serve`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.api import parse
from controller.executors.kubernetes import KubernetesExecutor
from controller.k8s import Kube
from controller.render import render

from ._cluster import Cluster
from .controller_helpers import local_settings, nats_invocation
from .service_helpers import Server, bearer, service_account

pytestmark = pytest.mark.cluster
Leftover = Callable[[KubernetesExecutor, Any], None]


def claimed_no_job(ex: KubernetesExecutor, inv: Any) -> None:
    ex.claim(inv, "Running")


def claimed_job_suspended(ex: KubernetesExecutor, inv: Any) -> None:
    ex.claim(inv, "Running")
    ex.kube.create_or_get(render(inv, ex.settings).job)  # created suspended, never resumed


def queued_in_a_dead_replica(ex: KubernetesExecutor, inv: Any) -> None:
    ex.claim(inv, "Queued")


LEFTOVERS = [
    ("died after claiming the id, before creating the Job", claimed_no_job),
    ("died after creating the Job suspended, before resuming it", claimed_job_suspended),
    ("died with the invocation in its queue", queued_in_a_dead_replica),
]


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize(("case", "leave"), LEFTOVERS, ids=[c for c, _ in LEFTOVERS])
def test_the_retried_post_runs_what_a_dead_replica_left_exactly_once(
    case: str, leave: Leftover, cluster: Cluster, namespace: str, nats: Any, kube: Kube, tmp_path: Path
) -> None:
    token = service_account(kube, namespace, "worker", ["create", "get"])
    inv_id = f"left-{uuid.uuid4().hex[:8]}"
    bucket = nats.kv_bucket()
    doc = nats_invocation("kv_put", inv_id, bucket=bucket, key="k", value="v")
    ex = KubernetesExecutor(local_settings(cluster, namespace), kubeconfig=str(cluster.kubeconfig))
    try:
        leave(ex, parse(doc))
    finally:
        ex.close()
    server = Server(cluster, namespace, tmp_path / "serve.log").start()
    try:
        base = f"{server.url}/v1/namespaces/{namespace}/invocations"
        r = httpx.post(base, json=doc, params={"wait": 90}, headers=bearer(token), timeout=120)
        assert r.status_code == 200, r.text
        rec = r.json()
        assert (rec["phase"], rec["exit_code"]) == ("Succeeded", 0), rec
        assert rec["result"]["data"]["revision"] == 1  # one run: a second kv_put would be 2
        again = httpx.post(base, json=doc, params={"wait": 5}, headers=bearer(token), timeout=30)
        assert again.json() == rec
    finally:
        server.stop()
