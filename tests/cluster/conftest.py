"""Fixtures for tests against the local Kubernetes cluster (e2e/local).

`cluster` (session): runs `e2e/local/up`, which is idempotent (a running cluster is reused, its
runner image refreshed when the project changed), and yields a handle with the kubeconfig, an
API client and the runner image name. A cluster this fixture started is stopped at the end of
the session unless TOOLPOD_KEEP_CLUSTER=1. Under CI=true a cluster that cannot come up fails
the tests loudly; elsewhere they are skipped with the reason.

`namespace` (function): a fresh namespace per test, labelled for the `privileged` Pod Security
level so host-network Jobs (the only way Pods reach the loopback brokers here) are admitted;
`restricted_namespace` enforces `restricted`, as production namespaces do. Both are deleted
after the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from ._cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "e2e" / "local"
UP_TIMEOUT_S = 60 * 60  # a cold cache builds Kubernetes from source


def _fail_or_skip(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"local Kubernetes cluster unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"local Kubernetes cluster unavailable: {reason}")


def _script(name: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(E2E / name)], capture_output=True, text=True, timeout=timeout, check=False
    )


def _env_value(name: str) -> str:
    out = _script("env", 30).stdout
    m = re.search(rf"^export {name}=(.*)$", out, re.MULTILINE)
    if not m:
        raise RuntimeError(f"e2e/local/env did not print {name}")
    return m.group(1)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    if os.geteuid() != 0:
        _fail_or_skip("the local cluster needs root (kubelet, containerd)")
    try:
        from kubernetes import config
    except ImportError:
        _fail_or_skip("the `kubernetes` Python client is not installed")

    was_running = _script("status", 60).returncode == 0
    # up is idempotent and also runs on a running cluster: it rebuilds and re-imports the runner
    # image when the project's sources changed, so tests never run stale runner code.
    up = _script("up", UP_TIMEOUT_S)
    if up.returncode != 0:
        if not was_running:
            _script("down", 300)  # leave nothing half-started behind
        tail = "\n".join(up.stderr.splitlines()[-25:])
        _fail_or_skip(f"e2e/local/up exited {up.returncode}:\n{tail}")
    kubeconfig = Path(_env_value("KUBECONFIG"))
    api_port = int(_env_value("TOOLPOD_LOCAL_API_PORT"))
    node_name = _env_value("TOOLPOD_LOCAL_NODE")
    runner_image = _env_value("TOOLPOD_RUNNER_IMAGE")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield Cluster(
            kubeconfig=kubeconfig,
            api_host="127.0.0.1",
            api_port=api_port,
            runner_image=runner_image,
            node_name=node_name,
            api_client=api_client,
        )
    finally:
        api_client.close()
        if not was_running and os.environ.get("TOOLPOD_KEEP_CLUSTER") != "1":
            _script("down", 300)


def _make_namespace(cluster: Cluster, level: str, request: pytest.FixtureRequest) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client)
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{base}-{uuid.uuid4().hex[:6]}"
    labels = {
        "app.kubernetes.io/part-of": "toolpod-tests",
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels))
    )
    try:
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace admitting host-network Pods (Pod Security level `privileged`)."""
    yield from _make_namespace(cluster, "privileged", request)


@pytest.fixture
def restricted_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace enforcing the `restricted` Pod Security level, like production."""
    yield from _make_namespace(cluster, "restricted", request)
