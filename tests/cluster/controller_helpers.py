"""Fixtures and helpers for the controller's cluster tests (tests/cluster/test_controller_*.py).

`toolpod` gives a real controller (the `kubernetes` executor, through the Python API) on the
test's namespace with production settings: runner Pods on the pod network reach the test
brokers and the API server through the kind cluster's own networking. Nothing in these tests
stands in for the API server or kubelet.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api import Toolpod
from controller.k8s import Kube, api_client
from controller.settings import Settings

from ._cluster import Cluster

#: Kinds the controller creates; none may be left once a test's invocations are collected.
KINDS = [
    ("batch/v1", "Job"),
    ("v1", "Pod"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
]


def local_settings(cluster: Cluster, namespace: str, **changes: Any) -> Settings:
    """Production settings (no host network, no address overrides), the test's namespace and
    the runner image loaded into the cluster."""
    base = Settings(
        namespace=namespace,
        image=cluster.runner_image,
        image_pull_policy="Never",
        backoff_limit=1,
    )
    return base.with_(**changes)


def toolpod_cli(
    cluster: Cluster, namespace: str, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """The `toolpod` CLI in a process of its own, set up for the kind cluster the way an
    operator would: by environment."""
    s = local_settings(cluster, namespace)
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "TOOLPOD_NAMESPACE": namespace,
        "TOOLPOD_IMAGE": s.image,
    }
    cmd = [sys.executable, "-m", "controller.cli", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def make_toolpod(cluster: Cluster, namespace: str, **changes: Any) -> Toolpod:
    settings = local_settings(cluster, namespace, **changes)
    return Toolpod.kubernetes(settings, kubeconfig=str(cluster.kubeconfig))


@pytest.fixture(name="kube")
def kube_fixture(cluster: Cluster) -> Iterator[Kube]:
    client = api_client(str(cluster.kubeconfig))
    try:
        yield Kube(client)
    finally:
        client.close()


@pytest.fixture(name="toolpod")
def toolpod_fixture(cluster: Cluster, namespace: str) -> Iterator[Toolpod]:
    tp = make_toolpod(cluster, namespace)
    try:
        yield tp
    finally:
        tp.close()


@pytest.fixture(name="creds")
def creds_fixture(kube: Kube, namespace: str, nats_server: Any) -> None:
    """The session NATS server's credential as Secret ``toolpod-cred-nats-main``."""
    credential_secret(kube, namespace, "nats_main", nats_server.credential())


def credential_secret(kube: Kube, namespace: str, alias: str, cred: dict[str, Any]) -> None:
    """The operator's Secret for a credential alias, as the controller expects it by default."""
    data = base64.b64encode(json.dumps(cred).encode()).decode()
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": Settings().secret_for(alias).name, "namespace": namespace},
            "type": "Opaque",
            "data": {"credential": data},
        }
    )


def toolpod_objects(kube: Kube, namespace: str) -> list[str]:
    """Every toolpod-labelled object in the namespace, as `Kind/name`, but the invocation
    records (ConfigMaps kept for the retention period on purpose, see controller/records.py)."""
    found = []
    selector = "app.kubernetes.io/name=toolpod,app.kubernetes.io/component!=record"
    for api, kind in KINDS:
        items, _ = kube.list(api, kind, namespace, selector)
        found += [f"{kind}/{i['metadata']['name']}" for i in items]
    return found


def wait_no_toolpod_objects(kube: Kube, namespace: str, timeout: float = 60) -> list[str]:
    """Garbage collection is asynchronous: wait until nothing is left (or return what is)."""
    deadline = time.monotonic() + timeout
    while True:
        left = toolpod_objects(kube, namespace)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def nats_invocation(operation: str, inv_id: str | None = None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "execution_id": "exec-1",
        "step": "step-1",
        "tool": {"kind": "nats", "operation": operation, "auth": "nats_main", **fields},
    }
    if inv_id:
        doc["id"] = inv_id
    return doc
