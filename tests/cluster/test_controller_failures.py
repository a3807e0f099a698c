"""How invocations fail, through the controller on the real kind cluster: every outcome comes
from the Job and Pod the API server reports, with the exit codes of docs/reference.md §7."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from controller.api import Toolpod
from controller.executors import SubmitError
from controller.k8s import Kube
from runner.errors import ConfigurationError

from ._cluster import Cluster
from .controller_helpers import (
    credential_secret,
    make_toolpod,
    nats_invocation,
    toolpod_objects,
    wait_no_toolpod_objects,
)

pytestmark = pytest.mark.cluster


def test_bad_input_creates_nothing(toolpod: Toolpod, kube: Kube, namespace: str) -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'bucket'"):
        toolpod.submit_sync(nats_invocation("kv_get", buckt="b", key="k"))
    assert toolpod_objects(kube, namespace) == []


def test_missing_credential_secret_is_a_clear_error_before_any_job(
    toolpod: Toolpod, kube: Kube, namespace: str
) -> None:
    with pytest.raises(SubmitError, match=r"Secret .*toolpod-cred-nats-main does not exist"):
        toolpod.submit_sync(nats_invocation("kv_get", bucket="b", key="k"))
    assert toolpod_objects(kube, namespace) == []


@pytest.mark.usefixtures("creds")
def test_missing_image_fails_fast(cluster: Cluster, namespace: str) -> None:
    with make_toolpod(cluster, namespace, image="toolpod-runner:does-not-exist") as tp:
        t0 = time.monotonic()
        out = tp.run_sync(
            nats_invocation(
                "kv_get",
                bucket="b",
                key="k",
            ),
            120,
        )
    assert (out.status, out.exit_code, out.reason) == ("error", 5, "ImagePull"), out
    assert "ErrImageNeverPull" in out.result["error"]["message"]
    assert time.monotonic() - t0 < 30  # not the deadline (600 s)


@pytest.mark.usefixtures("creds")
def test_job_deadline_is_a_timeout(cluster: Cluster, namespace: str) -> None:
    # A runner that never finishes: the Job's activeDeadlineSeconds must end it.
    with make_toolpod(
        cluster, namespace, deadline_grace_s=0, runner_command=("sleep", "300")
    ) as tp:
        doc = {**nats_invocation("kv_get", bucket="b", key="k"), "deadline_s": 3}
        t0 = time.monotonic()
        out = tp.run_sync(doc, 120)
    assert (out.status, out.exit_code, out.reason) == ("timeout", 5, "DeadlineExceeded"), out
    assert time.monotonic() - t0 < 60


@pytest.mark.usefixtures("creds")
def test_oom_with_a_small_memory_limit(cluster: Cluster, namespace: str, nats: Any) -> None:
    bucket = nats.object_bucket()
    big = b"x" * (96 * 1024 * 1024)
    nats.server.run(lambda js: _put_object(js, bucket, big))
    with make_toolpod(
        cluster,
        namespace,
        backoff_limit=0,
        requests={"memory": "64Mi", "cpu": "50m"},  # a small node: the limit alone would ask 1 CPU
        limits={"memory": "64Mi", "cpu": "1"},
    ) as tp:
        out = tp.run_sync(nats_invocation("object_get", bucket=bucket, name="big"), 180)
    assert (out.status, out.exit_code, out.reason) == ("error", 5, "OOMKilled"), out
    assert "64Mi" in out.result["error"]["message"]


async def _put_object(js: Any, bucket: str, data: bytes) -> None:
    store = await js.object_store(bucket)
    await store.put("big", data)


@pytest.mark.usefixtures("creds")
def test_runner_exit_2_fails_at_once_with_its_result(
    toolpod: Toolpod, kube: Kube, namespace: str
) -> None:
    out = toolpod.run_sync(nats_invocation("kv_get", bucket="no_such_bucket", key="k"), 120)
    assert (out.status, out.exit_code) == ("error", 2), out
    assert "no_such_bucket" in out.result["error"]["message"]
    assert out.result["error"]["retriable"] is False
    assert wait_no_toolpod_objects(kube, namespace) == []


@pytest.mark.parametrize(("backoff_limit", "attempts"), [(0, 1), (1, 2)])
def test_runner_exit_3_on_a_refused_connection(
    cluster: Cluster, kube: Kube, namespace: str, backoff_limit: int, attempts: int
) -> None:
    from tests.fixtures._process import free_port

    credential_secret(kube, namespace, "nats_main", {"url": f"nats://127.0.0.1:{free_port()}"})
    with make_toolpod(cluster, namespace, backoff_limit=backoff_limit) as tp:
        # exit 3 counts against backoffLimit: the Job runs another Pod after its backoff
        out = tp.run_sync(nats_invocation("kv_get", bucket="b", key="k"), 180)
    assert (out.status, out.exit_code) == ("error", 3), out
    assert out.result["error"]["kind"] == "connection"
    assert out.result["error"]["retriable"] is True
    assert out.result["attempt"] == attempts  # which Pod of the Job gave the result


def _paused_consume(cluster: Cluster, namespace: str, nats: Any) -> tuple[Toolpod, dict[str, Any]]:
    """A js_consume whose runner pauses 60 s between writing its result and acking."""
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream, ack_wait=5)
    nats.publish(f"{prefix}.x", [b'{"i":1}'])
    tp = make_toolpod(
        cluster,
        namespace,
        extra_env={"TOOLPOD_TEST_PAUSE_BEFORE_ACK": "60"},
    )
    doc = nats_invocation("js_consume", stream=stream, consumer=consumer, batch=5, timeout_ms=200)
    return tp, {**doc, "id": f"paused-{int(time.time() * 1000) % 10**8}"}


def _wait_running(kube: Kube, namespace: str, inv_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods, _ = kube.list("v1", "Pod", namespace, f"toolpod.dev/invocation={inv_id}")
        if any((p.get("status") or {}).get("phase") == "Running" for p in pods):
            time.sleep(3)  # the runner is up and past its drain
            return
        time.sleep(0.3)
    raise AssertionError("the runner Pod never ran")


@pytest.mark.usefixtures("creds")
def test_job_deleted_mid_flight(cluster: Cluster, kube: Kube, namespace: str, nats: Any) -> None:
    tp, doc = _paused_consume(cluster, namespace, nats)
    with tp:
        handle = tp.submit_sync(doc)
        _wait_running(kube, namespace, handle.id)
        kube.delete("batch/v1", "Job", namespace, f"toolpod-{handle.id}")
        out = handle.result_sync(60)
    assert (out.status, out.exit_code, out.reason) == ("error", 5, "Deleted"), out
    assert wait_no_toolpod_objects(kube, namespace) == []


@pytest.mark.usefixtures("creds")
def test_cancel(cluster: Cluster, kube: Kube, namespace: str, nats: Any) -> None:
    tp, doc = _paused_consume(cluster, namespace, nats)
    with tp:
        handle = tp.submit_sync(doc)
        results: list[Any] = []
        waiter = threading.Thread(target=lambda: results.append(handle.result_sync(60)))
        waiter.start()
        _wait_running(kube, namespace, handle.id)
        listed = {r["id"]: r for r in tp.executor.list()}
        assert listed[handle.id]["state"] == "running"
        assert listed[handle.id]["operation"] == "js_consume"
        cancelled = tp.cancel_sync(handle.id)
        waiter.join(60)
    assert (cancelled.status, cancelled.exit_code) == ("cancelled", 5)
    assert [r.status for r in results] == ["cancelled"]
    assert wait_no_toolpod_objects(kube, namespace) == []
