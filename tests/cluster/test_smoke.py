"""Smoke test of the kind cluster: real runner Jobs on a real kubelet.

A Job runs the runner image's `toolpod-runner run` against the session's NATS server (reached
over the pod network) and completes; its exit code, logs and termination message are read back
through the API. A second Job whose runner exits 2 fails at once through its podFailurePolicy.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from ._cluster import Cluster
from .jobs import RUNNER_CONTAINER, runner_job, runner_secret, wait_job

pytestmark = pytest.mark.cluster


def _create(cluster: Cluster, namespace: str, secret: dict[str, Any], job: dict[str, Any]) -> None:
    from kubernetes import client

    client.CoreV1Api(cluster.api_client).create_namespaced_secret(namespace, secret)
    client.BatchV1Api(cluster.api_client).create_namespaced_job(namespace, job)


def _job_pods(cluster: Cluster, namespace: str, job: str) -> list[Any]:
    from kubernetes import client

    core = client.CoreV1Api(cluster.api_client)
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items)


def _terminated(pod: Any) -> Any:
    for status in pod.status.container_statuses or []:
        if status.name == RUNNER_CONTAINER and status.state.terminated:
            return status.state.terminated
    raise AssertionError(f"runner container of {pod.metadata.name} has not terminated")


async def _kv(
    url: str, user: str, password: str, bucket: str, key: str, create: bool
) -> bytes | None:
    import nats

    nc = await nats.connect(url, user=user, password=password)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket=bucket) if create else await js.key_value(bucket)
        if create:
            return None
        return bytes((await kv.get(key)).value or b"")
    finally:
        await nc.close()


def test_node_is_ready(cluster: Cluster) -> None:
    from kubernetes import client

    node = client.CoreV1Api(cluster.api_client).read_node(cluster.node_name)
    ready = {c.type: c.status for c in node.status.conditions}["Ready"]
    assert ready == "True"


def test_restricted_namespace_rejects_host_network(
    cluster: Cluster, restricted_namespace: str
) -> None:
    """PodSecurity is enforced: a host-network Job's pod is refused where production runs."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    pod = runner_job("probe", cluster.runner_image, "s", [])["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": pod["spec"]}
    pod["spec"]["hostNetwork"] = True
    core = client.CoreV1Api(cluster.api_client)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod(restricted_namespace, pod, dry_run="All")
    assert err.value.status == 403
    assert "hostNetwork" in str(err.value.body)
    pod["spec"]["hostNetwork"] = False
    core.create_namespaced_pod(restricted_namespace, pod, dry_run="All")  # admitted


def test_kv_put_job_completes(cluster: Cluster, namespace: str, nats_server: Any) -> None:
    from kubernetes import client

    cred = nats_server.credential()
    bucket = f"smoke_{uuid.uuid4().hex[:8]}"
    asyncio.run(_kv(cred["url"], cred["user"], cred["password"], bucket, "", create=True))
    invocation = {
        "execution_id": "smoke-1",
        "step": "smoke",
        "tool": {
            "kind": "nats",
            "operation": "kv_put",
            "auth": "nats_main",
            "bucket": bucket,
            "key": "k",
            "value": "v",
        },
    }
    secret = runner_secret("smoke-put", invocation, {"nats_main": cred})
    job = runner_job("smoke-put", cluster.runner_image, "smoke-put", ["nats_main"])
    _create(cluster, namespace, secret, job)

    done = wait_job(client.BatchV1Api(cluster.api_client), namespace, "smoke-put")
    [pod] = _job_pods(cluster, namespace, "smoke-put")
    logs = client.CoreV1Api(cluster.api_client).read_namespaced_pod_log(
        pod.metadata.name, namespace, container=RUNNER_CONTAINER
    )
    term = _terminated(pod)
    assert done.status.succeeded == 1, (done.status, logs)
    assert term.exit_code == 0, logs
    # The stdout sink prints the ToolResult; the runner also leaves it as termination message.
    result = json.loads(term.message)
    assert result["status"] == "success", result
    assert result["data"]["bucket"] == bucket
    assert '"status": "success"' in logs or '"status":"success"' in logs, logs
    value = asyncio.run(_kv(cred["url"], cred["user"], cred["password"], bucket, "k", create=False))
    assert value == b"v"


def test_exit_code_2_fails_job_without_retry(
    cluster: Cluster, namespace: str, nats_server: Any
) -> None:
    from kubernetes import client

    cred = nats_server.credential()
    invocation = {
        "execution_id": "smoke-2",
        "step": "smoke",
        "tool": {
            "kind": "nats",
            "operation": "kv_put",
            "auth": "nats_main",
            "bucket": f"missing_{uuid.uuid4().hex[:8]}",  # never created: a non-retriable error
            "key": "k",
            "value": "v",
        },
    }
    secret = runner_secret("smoke-fail", invocation, {"nats_main": cred})
    job = runner_job(
        "smoke-fail",
        cluster.runner_image,
        "smoke-fail",
        ["nats_main"],
        backoff_limit=3,
    )
    _create(cluster, namespace, secret, job)

    done = wait_job(client.BatchV1Api(cluster.api_client), namespace, "smoke-fail")
    conditions = {c.type: c for c in done.status.conditions}
    assert conditions["Failed"].status == "True"
    assert conditions["Failed"].reason == "PodFailurePolicy", conditions["Failed"]
    pods = _job_pods(cluster, namespace, "smoke-fail")
    assert len(pods) == 1, "exit code 2 must not be retried"
    assert done.status.failed == 1
    term = _terminated(pods[0])
    assert term.exit_code == 2
    result = json.loads(term.message)
    assert result["status"] == "error"
    assert result["error"]["retriable"] is False
