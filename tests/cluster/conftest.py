"""Fixtures for tests against a real kind cluster (e2e/kind).

`cluster` (session): runs `e2e/kind/up`, which is idempotent (an existing cluster is reused and
the runner image reloaded when the project changed), and yields a handle with the kubeconfig,
an API client and the runner image name. When any selected test is marked `cluster`, `up` runs
before the first test, outside every test's timeout (a cold cache builds the node image). A
cluster this fixture started is deleted at the end of the session unless TOOLPOD_KEEP_CLUSTER=1.
Under CI=true a cluster that cannot come up fails the tests loudly; elsewhere they are skipped.

Offline (TOOLPOD_KIND_OFFLINE=1, the default here: these machines reach no registry), the
cluster lives in a network namespace the run creates; the session joins it (setns) before any
test runs, and the test brokers listen on the kind network's gateway there, which runner Pods
reach through the cluster's own networking (no host network, no API-address override).

`namespace` (function): a fresh namespace per test enforcing the `restricted` Pod Security level
(as production namespaces do); `restricted_namespace` is the same, named for the tests that are
about it. Both are deleted after the test.
"""

from __future__ import annotations

import ctypes
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
E2E = REPO / "e2e" / "kind"
UP_TIMEOUT_S = 60 * 60  # a cold cache builds Kubernetes and the node image from source
RUNNER_IMAGE = "toolpod-runner:dev"
CLONE_NEWNET = 0x40000000


def _fail_or_skip(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"kind cluster unavailable under CI: {reason}", pytrace=False)
    pytest.skip(f"kind cluster unavailable: {reason}")


def _script(name: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(E2E / name)], capture_output=True, text=True, timeout=timeout, check=False
    )


def _kind_env() -> dict[str, str]:
    out = _script("env", 60).stdout
    return dict(re.findall(r"^export (\w+)=(\S*)$", out, re.MULTILINE))


def _join_netns(path: str) -> None:
    """Move this process's network namespace into the cluster's (setns on the main thread
    before any test starts a thread; threads created afterwards inherit it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(path) as ns:
        if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")


@dataclass
class _Startup:
    """What bringing the cluster up gave: an error to report, and whether it already ran."""

    error: str | None = None
    was_running: bool = False


_startup: _Startup | None = None


def _bring_up() -> _Startup:
    """Run e2e/kind/up once per session, join its network namespace (offline) and point the
    test brokers at the address Pods reach."""
    global _startup  # noqa: PLW0603 - one cluster start per session, shared by hook and fixture
    if _startup is not None:
        return _startup
    os.environ.setdefault("TOOLPOD_KIND_OFFLINE", "1")
    if os.environ["TOOLPOD_KIND_OFFLINE"] == "1" and os.geteuid() != 0:
        _startup = _Startup(error="kind offline needs root (network namespace, dockerd)")
        return _startup
    was_running = _script("status", 60).returncode == 0
    up = _script("up", UP_TIMEOUT_S)
    error = None
    if up.returncode != 0:
        if not was_running:
            _script("down", 300)  # leave nothing half-started behind
        tail = "\n".join(up.stderr.splitlines()[-25:])
        error = f"e2e/kind/up exited {up.returncode}:\n{tail}"
    else:
        env = _kind_env()
        if netns := env.get("TOOLPOD_KIND_NETNS_PATH"):
            _join_netns(netns)
            os.environ["TOOLPOD_TEST_BROKER_HOST"] = env["TOOLPOD_KIND_GATEWAY"]
            os.environ["DOCKER_HOST"] = env["DOCKER_HOST"]  # the run's own dockerd
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
    env = _kind_env()
    kubeconfig = Path(env["KUBECONFIG"])
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield Cluster(
            kubeconfig=kubeconfig,
            runner_image=RUNNER_IMAGE,
            node_name=env["TOOLPOD_KIND_NODE"],
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
    """A fresh namespace enforcing the `restricted` Pod Security level, like production."""
    yield from _make_namespace(cluster, "restricted", request)


@pytest.fixture
def restricted_namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace enforcing the `restricted` Pod Security level, like production."""
    yield from _make_namespace(cluster, "restricted", request)
