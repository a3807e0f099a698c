"""The chart as an operator installs it, on the real kind cluster, and a worker as it calls the
service: `helm install` into a namespace enforcing Pod Security `restricted` → the controller
Deployment is ready → a worker Pod whose ServiceAccount is bound to `toolpod-invoker` POSTs an
invocation with its own token and gets the result; one without the binding gets 403, one
without a token 401 → `helm test` passes → `helm upgrade` with invocations in flight loses
none → `helm uninstall` leaves nothing of toolpod behind.

The tests of this module share one release and run in order (each step is the next thing an
operator does). Workers are real Pods running the controller image's Python with httpx: the
service is reached at its Service address, from inside the cluster, as workers reach it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from controller.k8s import Kube
from tests.fixtures.helm import CHART

from ._cluster import Cluster
from .controller_helpers import credential_secret

pytestmark = pytest.mark.cluster

RELEASE = "tp"
TAG = "dev"
#: A worker: POST (or GET) one request with the Pod's own token, print status and body.
WORKER = """
import json, os, httpx
headers = {}
if os.environ.get("SEND_TOKEN") == "1":
    with open("/var/run/secrets/kubernetes.io/serviceaccount/token") as f:
        headers["Authorization"] = "Bearer " + f.read().strip()
body = json.loads(os.environ["BODY"]) if os.environ.get("BODY") else None
r = httpx.request(os.environ["METHOD"], os.environ["URL"], json=body, headers=headers, timeout=300)
print(json.dumps({"status": r.status_code, "body": r.json()}))
"""
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass
class Release:
    namespace: str
    helm: Path
    kubeconfig: Path
    kube: Kube
    bucket: str

    @property
    def service_url(self) -> str:
        return f"http://{RELEASE}-toolpod.{self.namespace}.svc:80/v1/namespaces/{self.namespace}/invocations"

    def helm_cmd(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.helm / "helm"), "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def worker(self, account: str | None, method: str, url: str, body: Any = None, token: bool = True) -> dict[str, Any]:
        """Run one worker Pod to completion; its printed ``{"status", "body"}``."""
        name = f"worker-{uuid.uuid4().hex[:8]}"
        env = [
            {"name": "METHOD", "value": method},
            {"name": "URL", "value": url},
            {"name": "SEND_TOKEN", "value": "1" if token else "0"},
        ]
        if body is not None:
            env.append({"name": "BODY", "value": json.dumps(body)})
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": self.namespace, "labels": {"app": "worker"}},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": account or "default",
                "automountServiceAccountToken": True,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [
                    {
                        "name": "worker",
                        "image": f"toolpod-controller:{TAG}",
                        "imagePullPolicy": "Never",
                        "command": ["/opt/toolpod/bin/python", "-c", WORKER],
                        "env": env,
                        "securityContext": RESTRICTED,
                    }
                ],
            },
        }
        self.kube.create(pod)
        deadline = time.monotonic() + 360
        while time.monotonic() < deadline:
            got = self.kube.get("v1", "Pod", self.namespace, name) or {}
            if (got.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                break
            time.sleep(1)
        logs = self.kube.logs(self.namespace, name, "worker")
        self.kube.delete("v1", "Pod", self.namespace, name)
        assert logs.strip(), f"worker {name} printed nothing"
        return dict(json.loads(logs.strip().splitlines()[-1]))

    def service_account(self, name: str, bound: bool) -> str:
        self.kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": self.namespace}})
        if bound:
            self.kube.create(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": f"{name}-toolpod", "namespace": self.namespace},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "toolpod-invoker"},
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": self.namespace}],
                }
            )
        return name


def _kv_get(bucket: str, key: str = "probe") -> dict[str, Any]:
    return {"tool": {"kind": "nats", "operation": "kv_get", "auth": "nats_main", "bucket": bucket, "key": key}}


@pytest.fixture(scope="module")
def release(cluster: Cluster, helm_bin: Path, nats_server: Any) -> Iterator[Release]:
    """The chart installed (and, at the end, uninstalled) in a fresh `restricted` namespace."""
    from kubernetes import client

    from controller.k8s import api_client

    ns = f"t-chart-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
    client.CoreV1Api(cluster.api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels=labels))
    )
    api = api_client(str(cluster.kubeconfig))
    kube = Kube(api)
    bucket = f"helm_{uuid.uuid4().hex[:6]}"
    nats_server.run(lambda js: js.create_key_value(bucket=bucket))
    credential_secret(kube, ns, "nats_main", nats_server.credential())
    rel = Release(ns, helm_bin, cluster.kubeconfig, kube, bucket)
    try:
        yield rel
    finally:
        rel.helm_cmd("uninstall", RELEASE, "--wait", "--ignore-not-found")
        client.CoreV1Api(cluster.api_client).delete_namespace(ns, propagation_policy="Background")
        api.close()


def test_helm_install_brings_the_controller_up_under_restricted_pod_security(release: Release) -> None:
    out = release.helm_cmd(
        "install", RELEASE, str(CHART),
        "--set", f"image.tag={TAG},image.pullPolicy=Never",
        "--set", f"runner.image.tag={TAG},runner.image.pullPolicy=Never",
        "--set", f"tests.invocation.tool.bucket={release.bucket}",
        "--set", "controller.logLevel=DEBUG",
        "--wait", "--timeout", "240s",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    url = f"/apis/apps/v1/namespaces/{release.namespace}/deployments/{RELEASE}-toolpod"
    deployment = release.kube.call("GET", url)
    assert deployment["status"].get("readyReplicas") == 1


def test_a_worker_bound_to_toolpod_invoker_gets_the_result_with_its_own_token(release: Release) -> None:
    nats_bucket = release.bucket
    account = release.service_account("worker", bound=True)
    got = release.worker(account, "POST", f"{release.service_url}?wait=120", _kv_get(nats_bucket))
    assert got["status"] == 200, got
    record = got["body"]
    assert record["phase"] == "Succeeded", record
    assert record["exit_code"] == 0
    assert record["result"]["data"]["status"] == "not_found"


def test_a_worker_without_the_binding_gets_403_and_nothing_is_created(release: Release) -> None:
    account = release.service_account("stranger", bound=False)
    inv_id = f"denied-{uuid.uuid4().hex[:6]}"
    got = release.worker(account, "POST", f"{release.service_url}?wait=30", {"id": inv_id, **_kv_get(release.bucket)})
    assert got["status"] == 403, got
    assert got["body"]["error"]["kind"]
    assert release.kube.get("batch/v1", "Job", release.namespace, f"toolpod-{inv_id}") is None


def test_a_caller_without_a_token_gets_401(release: Release) -> None:
    got = release.worker(None, "POST", release.service_url, _kv_get(release.bucket), token=False)
    assert got["status"] == 401, got


def test_helm_test_runs_a_real_invocation_through_the_service(release: Release) -> None:
    out = release.helm_cmd("test", RELEASE, "--timeout", "300s", timeout=360)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Phase:          Succeeded" in out.stdout


def test_an_upgrade_with_invocations_in_flight_loses_none(release: Release, nats_server: Any) -> None:
    account = "worker"  # bound in an earlier step
    stream = f"UPG_{uuid.uuid4().hex[:6]}"
    nats_server.run(lambda js: js.add_stream(name=stream, subjects=[f"{stream.lower()}.>"]))
    nats_server.run(lambda js: js.add_consumer(stream, durable_name="c", ack_policy="explicit"))
    ids = [f"upg-{uuid.uuid4().hex[:6]}" for _ in range(4)]
    # Drains of an empty consumer wait out their timeout: in flight while the controller rolls.
    for inv_id in ids:
        body = {"id": inv_id, "tool": {"kind": "nats", "operation": "js_consume", "auth": "nats_main",
                                       "stream": stream, "consumer": "c", "timeout_ms": 5000}}
        got = release.worker(account, "POST", release.service_url, body)
        assert got["status"] == 202, got
    out = release.helm_cmd(
        "upgrade", RELEASE, str(CHART), "--reuse-values",
        # --set-string: a hex string such as 123456 or 1e5340 would be read as a number.
        "--set-string", "podAnnotations.toolpod-test/rollout=" + uuid.uuid4().hex[:6],
        "--wait", "--timeout", "240s",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    for inv_id in ids:
        got = release.worker(account, "GET", f"{release.service_url}/{inv_id}?wait=120")
        assert got["status"] == 200, got
        assert got["body"]["phase"] == "Succeeded", got["body"]
        assert got["body"]["result"]["data"]["count"] == 0


def test_helm_uninstall_leaves_nothing_of_toolpod_behind(release: Release, cluster: Cluster) -> None:
    out = release.helm_cmd("uninstall", RELEASE, "--wait", "--timeout", "120s")
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 90
    left: list[str] = []
    while time.monotonic() < deadline:
        left = _toolpod_objects(release.kube, release.namespace)
        if not left:
            break
        time.sleep(1)
    assert left == []


#: Where every kind the release or its invocations create is listed (namespaced, then cluster).
NAMESPACED = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Service": "/api/v1/namespaces/{ns}/services",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}
CLUSTER = {
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
}


def _toolpod_objects(kube: Kube, namespace: str) -> list[str]:
    """Every object of the release or of its invocations, namespaced and cluster-wide."""
    urls = [(k, u.format(ns=namespace)) for k, u in NAMESPACED.items()] + list(CLUSTER.items())
    found = []
    for kind, url in urls:
        for selector in (f"app.kubernetes.io/instance={RELEASE}", "app.kubernetes.io/name=toolpod"):
            items = kube.call("GET", url, query=[("labelSelector", selector)]).get("items") or []
            found += [f"{kind}/{i['metadata']['name']}" for i in items]
    return sorted(set(found))
