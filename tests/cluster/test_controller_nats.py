"""Every nats operation family end to end through the controller: a Job per invocation on the
real kind cluster, the result back through the runner's ConfigMap sink."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from controller.api import Toolpod
from controller.executors.kubernetes import KubernetesExecutor
from controller.k8s import Kube

from .controller_helpers import (  # noqa: F401  (fixtures)
    credential_secret,
    nats_invocation,
    wait_no_toolpod_objects,
)

pytestmark = pytest.mark.cluster


@pytest.mark.usefixtures("creds")
def test_kv_put_then_get(toolpod: Toolpod, nats: Any, kube: Kube, namespace: str) -> None:
    bucket = nats.kv_bucket()
    put = toolpod.run_sync(nats_invocation("kv_put", bucket=bucket, key="k", value={"a": 1}), 120)
    assert (put.status, put.exit_code) == ("success", 0), put
    assert put.result["data"]["revision"] == 1
    assert put.result["execution_id"] == "exec-1"
    got = toolpod.run_sync(nats_invocation("kv_get", bucket=bucket, key="k"), 120)
    assert got.exit_code == 0, got
    assert got.result["data"]["value"] == {"a": 1}
    assert wait_no_toolpod_objects(kube, namespace) == []


@pytest.mark.usefixtures("creds")
def test_object_put_and_get(toolpod: Toolpod, nats: Any) -> None:
    bucket = nats.object_bucket()
    blob = base64.b64encode(b"\x00\x01binary").decode()
    put = toolpod.run_sync(
        nats_invocation("object_put", bucket=bucket, name="o", data=blob, encoding="base64"), 120
    )
    assert put.exit_code == 0, put
    got = toolpod.run_sync(
        nats_invocation("object_get", bucket=bucket, name="o", encoding="base64"), 120
    )
    assert got.exit_code == 0, got
    assert got.result["data"]["data"] == blob


@pytest.mark.usefixtures("creds")
def test_js_publish_and_get_msg(toolpod: Toolpod, nats: Any) -> None:
    stream, prefix = nats.stream()
    pub = toolpod.run_sync(nats_invocation("js_publish", subject=f"{prefix}.a", data={"n": 1}), 120)
    assert pub.exit_code == 0, pub
    assert pub.result["data"]["seq"] == 1
    got = toolpod.run_sync(nats_invocation("js_get_msg", stream=stream, seq=1), 120)
    assert got.result["data"]["data"] == {"n": 1}, got


@pytest.mark.usefixtures("creds")
def test_js_consume_acks_after_the_result_is_written(toolpod: Toolpod, nats: Any) -> None:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream)
    nats.publish(f"{prefix}.x", [b'{"i":1}', b'{"i":2}', b'{"i":3}'])
    out = toolpod.run_sync(
        nats_invocation("js_consume", stream=stream, consumer=consumer, batch=10, timeout_ms=500),
        120,
    )
    assert out.exit_code == 0, out
    data = out.result["data"]
    assert [m["data"] for m in data["messages"]] == [{"i": 1}, {"i": 2}, {"i": 3}]
    assert data["acked"] is True  # the final record, written after the ack
    again = toolpod.run_sync(
        nats_invocation("js_consume", stream=stream, consumer=consumer, batch=10, timeout_ms=200),
        120,
    )
    assert again.result["data"]["count"] == 0, again


@pytest.mark.usefixtures("creds")
def test_result_to_a_nats_kv_bucket(
    toolpod: Toolpod, nats: Any, kube: Kube, namespace: str
) -> None:
    bucket, results = nats.kv_bucket(), nats.kv_bucket()
    doc = {
        **nats_invocation("kv_put", inv_id="to-kv", bucket=bucket, key="k", value="v"),
        "result": {"sink": "nats_kv", "bucket": results},
    }
    out = toolpod.run_sync(doc, 120)
    assert (out.status, out.exit_code) == ("success", 0), out

    async def stored(js: Any) -> Any:
        return json.loads((await (await js.key_value(results)).get("to-kv")).value)

    assert nats.server.run(stored)["data"] == out.result["data"]
    assert wait_no_toolpod_objects(kube, namespace) == []


@pytest.mark.usefixtures("creds")
def test_a_large_result_in_a_nats_kv_bucket_comes_back_whole(toolpod: Toolpod, nats: Any) -> None:
    bucket, results = nats.kv_bucket(), nats.kv_bucket()
    big = "x" * 20_000  # far over the 4 KiB termination message
    put = toolpod.run_sync(nats_invocation("kv_put", bucket=bucket, key="big", value=big), 120)
    assert put.exit_code == 0, put
    doc = {
        **nats_invocation("kv_get", bucket=bucket, key="big"),
        "result": {"sink": "nats_kv", "bucket": results},
    }
    out = toolpod.run_sync(doc, 120)
    assert (out.status, out.exit_code) == ("success", 0), out
    assert out.result["data"]["value"] == big
    assert_from_the_bucket_watcher(toolpod, results)


def assert_from_the_bucket_watcher(toolpod: Toolpod, bucket: str) -> None:
    """The result arrived through the bucket's one shared watcher, not a read of its own."""
    executor = toolpod.executor
    assert isinstance(executor, KubernetesExecutor)
    assert executor.kv.delivered[(bucket, "nats_main")] >= 1
    assert executor.sink_reads == 0


@pytest.mark.usefixtures("creds")
def test_a_large_drain_result_in_a_nats_kv_bucket_is_the_one_written_after_the_ack(
    toolpod: Toolpod, nats: Any
) -> None:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream)
    nats.publish(f"{prefix}.x", [json.dumps({"i": i, "pad": "p" * 1000}).encode() for i in range(8)])
    results = nats.kv_bucket()
    doc = {
        **nats_invocation("js_consume", stream=stream, consumer=consumer, batch=8, timeout_ms=500),
        "result": {"sink": "nats_kv", "bucket": results},
    }
    out = toolpod.run_sync(doc, 120)
    assert (out.status, out.exit_code) == ("success", 0), out
    # the bucket held the record twice (before and after the ack); the second one comes back
    assert out.result["data"]["acked"] is True
    assert [m["data"]["i"] for m in out.result["data"]["messages"]] == list(range(8))
    assert_from_the_bucket_watcher(toolpod, results)
