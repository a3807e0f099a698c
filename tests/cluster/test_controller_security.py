"""The Job the controller renders, as the API server admits and authorises it.

- Production settings run for real where Pod Security `restricted` is enforced: admitted,
  networked, results through both sinks.
- Least privilege: with the token of an invocation's runner ServiceAccount (minted through the
  TokenRequest API, exactly what the Pod mounts) the runner may write its own result
  ConfigMap and nothing else: another invocation's spec Secret and result ConfigMap, the
  credential Secrets, listing, creating — all denied with 403.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.k8s import ApiError, Kube
from controller.render import render
from controller.settings import Settings
from runner.spec.invocation import parse_invocation

from ._cluster import Cluster
from .controller_helpers import (
    credential_secret,
    make_toolpod,
    nats_invocation,
    wait_no_toolpod_objects,
)

pytestmark = pytest.mark.cluster


def _pod_of(job: dict[str, Any], namespace: str) -> dict[str, Any]:
    template = job["spec"]["template"]
    meta = {
        "name": job["metadata"]["name"],
        "namespace": namespace,
        "labels": template["metadata"]["labels"],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


def test_production_jobs_run_in_a_restricted_namespace(
    cluster: Cluster, kube: Kube, restricted_namespace: str, nats: Any
) -> None:
    """Not a dry run: with production settings the runner's Pod is admitted where Pod Security
    `restricted` is enforced, reaches the broker and the API server over the pod network, and
    writes its result through both sinks."""
    ns = restricted_namespace
    credential_secret(kube, ns, "nats_main", nats.server.credential())
    bucket = nats.kv_bucket()
    with make_toolpod(cluster, ns) as tp:
        via_configmap = tp.run_sync(
            nats_invocation("kv_put", bucket=bucket, key="k", value="v"), 120
        )
        doc = nats_invocation("kv_get", bucket=bucket, key="k")
        via_kv = tp.run_sync({**doc, "result": {"sink": "nats_kv", "bucket": bucket}}, 120)
    assert via_configmap.exit_code == 0, via_configmap.result
    assert via_kv.exit_code == 0, via_kv.result
    assert via_kv.result["data"]["value"] == "v"
    from kubernetes import client

    labels = client.CoreV1Api(cluster.api_client).read_namespace(ns).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert wait_no_toolpod_objects(kube, ns) == []


def _url(manifest: dict[str, Any]) -> str:
    from controller.k8s import path

    return path(manifest["apiVersion"], manifest["kind"], manifest["metadata"]["namespace"])


def _as_service_account(kube: Kube, namespace: str, account: str) -> Kube:
    """A client holding a bound token of ``account`` (TokenRequest), nothing else."""
    from kubernetes import client

    url = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 600},
    }
    token = kube.call("POST", url, body=body)["status"]["token"]
    cfg = copy.copy(kube.api.configuration)
    cfg.cert_file = cfg.key_file = None
    cfg.api_key = {"authorization": f"Bearer {token}"}
    cfg.api_key_prefix = {}
    return Kube(client.ApiClient(cfg), retries=0)


def _status(fn: Any) -> int:
    try:
        fn()
    except ApiError as e:
        return e.status
    return 200


def test_runner_may_write_its_own_result_and_nothing_else(
    cluster: Cluster, kube: Kube, namespace: str, nats_server: Any
) -> None:
    credential_secret(kube, namespace, "nats_main", nats_server.credential())
    with make_toolpod(cluster, namespace, keep=True) as tp:
        mine = tp.run_sync(nats_invocation("kv_get", inv_id="mine", bucket="no_such", key="k"), 120)
        other = tp.run_sync(
            nats_invocation("kv_get", inv_id="other", bucket="no_such", key="k"), 120
        )
    assert mine.exit_code == other.exit_code == 2  # both ran and wrote their results
    runner = _as_service_account(kube, namespace, "toolpod-mine-runner")
    ns = namespace
    cm_patch = {"data": {"result.json": "{}"}}
    checks = {
        "own result: get": _status(
            lambda: runner.get("v1", "ConfigMap", ns, "toolpod-mine-result")
        ),
        "own result: patch": _status(
            lambda: runner.merge_patch("v1", "ConfigMap", ns, "toolpod-mine-result", cm_patch)
        ),
        "other's result: get": _status(
            lambda: runner.get("v1", "ConfigMap", ns, "toolpod-other-result")
        ),
        "other's result: patch": _status(
            lambda: runner.merge_patch("v1", "ConfigMap", ns, "toolpod-other-result", cm_patch)
        ),
        "other's spec": _status(lambda: runner.get("v1", "Secret", ns, "toolpod-other-spec")),
        "own spec": _status(lambda: runner.get("v1", "Secret", ns, "toolpod-mine-spec")),
        "credential": _status(lambda: runner.get("v1", "Secret", ns, "toolpod-cred-nats-main")),
        "list secrets": _status(lambda: runner.list("v1", "Secret", ns, "")),
        "list configmaps": _status(lambda: runner.list("v1", "ConfigMap", ns, "")),
        "create configmap": _status(
            lambda: runner.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "x", "namespace": ns},
                }
            )
        ),
        "own Job": _status(lambda: runner.get("batch/v1", "Job", ns, "toolpod-mine")),
        "delete other's Job": _status(
            lambda: runner.delete("batch/v1", "Job", ns, "toolpod-other")
        ),
    }
    runner.api.close()
    allowed = {k for k, v in checks.items() if v == 200}
    assert allowed == {"own result: get", "own result: patch"}, checks
    assert all(v == 403 for k, v in checks.items() if k not in allowed), checks
    for inv in ("mine", "other"):
        kube.delete("batch/v1", "Job", namespace, f"toolpod-{inv}")
    assert wait_no_toolpod_objects(kube, namespace) == []


def test_no_service_account_token_without_the_configmap_sink(
    cluster: Cluster, kube: Kube, restricted_namespace: str
) -> None:
    doc = {
        **nats_invocation("kv_get", inv_id="kv", bucket="b", key="k"),
        "result": {"sink": "nats_kv", "bucket": "results"},
    }
    r = render(parse_invocation(doc), Settings(namespace=restricted_namespace))
    pod = _pod_of(r.job, restricted_namespace)
    created = kube.call("POST", _url(pod), query=[("dryRun", "All")], body=pod)
    mounts = [m["mountPath"] for m in created["spec"]["containers"][0].get("volumeMounts", [])]
    assert not any("serviceaccount" in m for m in mounts), mounts
    assert created["spec"]["automountServiceAccountToken"] is False
