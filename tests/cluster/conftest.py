"""Fixtures for tests against the local Kubernetes cluster (e2e/local).

`cluster` (session): runs `e2e/local/up`, which is idempotent (a running cluster is reused, its
runner image refreshed when the project changed), and yields a handle with the kubeconfig, an
API client and the runner image name. When any selected test is marked `cluster`, `up` runs
before the first test, outside every test's timeout (a cold start builds Kubernetes). A cluster this fixture started is stopped at the end of
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
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from ._cluster import Cluster
from .controller_helpers import creds_fixture, kube_fixture, toolpod_fixture  # noqa: F401  (fixtures)

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


@dataclass
class _Startup:
    """What bringing the cluster up gave: an error to report, and whether it already ran."""

    error: str | None = None
    was_running: bool = False


_startup: _Startup | None = None


def _bring_up() -> _Startup:
    """Run e2e/local/up once per session (idempotent; on a running cluster it only refreshes
    the runner image when the project's sources changed, so tests never run stale code)."""
    global _startup  # noqa: PLW0603 - one cluster start per session, shared by hook and fixture
    if _startup is not None:
        return _startup
    if os.geteuid() != 0:
        _startup = _Startup(error="the local cluster needs root (kubelet, containerd)")
        return _startup
    was_running = _script("status", 60).returncode == 0
    up = _script("up", UP_TIMEOUT_S)
    error = None
    if up.returncode != 0:
        if not was_running:
            _script("down", 300)  # leave nothing half-started behind
        tail = "\n".join(up.stderr.splitlines()[-25:])
        error = f"e2e/local/up exited {up.returncode}:\n{tail}"
    _startup = _Startup(error=error, was_running=was_running)
    return _startup


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Iterator[None]:
    """Start the cluster before the first test when any selected test needs it: a cold start
    builds Kubernetes (minutes), which must not count against a test's own timeout."""
    collect_only = session.config.option.collectonly
    if not collect_only and any(item.get_closest_marker("cluster") for item in session.items):
        _bring_up()
    return (yield)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    try:
        from kubernetes import config
    except ImportError:
        _fail_or_skip("the `kubernetes` Python client is not installed")
    startup = _bring_up()
    if startup.error:
        _fail_or_skip(startup.error)
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
        if not startup.was_running and os.environ.get("TOOLPOD_KEEP_CLUSTER") != "1":
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
