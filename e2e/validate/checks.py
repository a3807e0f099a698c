"""toolpod's end-to-end checks, run inside the cluster by ``e2e/validate/run``.

Runs as a Job with the runner image (which carries every broker client and the ``toolpod``
CLI) next to the brokers of ``manifests/``, and drives toolpod exactly as a user would: each
check writes an invocation and runs ``toolpod run -`` (the kubernetes executor: one Job per
invocation). Every name carries this run's id, so runs never see each other's data.

Checks: per source (nats, pubsub, kafka) publish N, one drain returns exactly N and acks them,
a second drain returns 0; every operation of every nats family (kv, object, js); a bad
invocation exits 2 and creates nothing; the result comes back through both sinks (configmap and
nats_kv). Prints one line per check and a closing ``N passed, M failed``; exits 1 on a failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

N = int(os.environ.get("VALIDATE_MESSAGES", "5"))
RUN = uuid.uuid4().hex[:8]
NATS_URL = os.environ.get("VALIDATE_NATS_URL", "nats://nats:4222")
PUBSUB = os.environ.get("VALIDATE_PUBSUB", "pubsub-emulator:8085")
KAFKA = os.environ.get("VALIDATE_KAFKA", "kafka:9092")
PROJECT = "toolpod-validate"
RESULTS_BUCKET = "toolpod-results"
Check = Callable[[], Awaitable[None]]


class Failed(Exception):
    """A check's expectation did not hold."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Failed(what)


async def toolpod(invocation: dict[str, Any], want_exit: int = 0) -> dict[str, Any]:
    """``toolpod run -`` with the invocation on stdin; its ToolResult (or {} on no output)."""
    proc = await asyncio.create_subprocess_exec(
        "toolpod", "run", "-", "-o", "json",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate(json.dumps(invocation).encode())
    record: dict[str, Any] = json.loads(out) if out.strip() else {}
    detail = err.decode().strip() or json.dumps(record.get("error"))
    expect(proc.returncode == want_exit, f"exit {proc.returncode}, want {want_exit}: {detail}")
    return record


def nats_tool(operation: str, **fields: Any) -> dict[str, Any]:
    return {"tool": {"kind": "nats", "auth": "nats_main", "operation": operation, **fields}}


async def data_of(invocation: dict[str, Any]) -> dict[str, Any]:
    record = await toolpod(invocation)
    expect(record.get("status") == "success", f"status {record.get('status')}: {record}")
    data: dict[str, Any] = record["data"]
    return data


# -- the brokers, directly (setup and publishing) ----------------------------------------------


async def nats_setup() -> tuple[str, str]:
    """A stream with N messages and a durable pull consumer; (stream, consumer)."""
    import nats
    from nats.js.api import ConsumerConfig

    stream, consumer = f"V{RUN}", "toolpod"
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"v{RUN}.>"])
        await js.add_consumer(stream, ConsumerConfig(durable_name=consumer, ack_wait=30))
        for i in range(N):
            await js.publish(f"v{RUN}.drain", json.dumps({"i": i}).encode())
        await js.create_key_value(bucket=f"kv{RUN}")
        await js.create_key_value(bucket=f"sink{RUN}")
        await js.create_object_store(bucket=f"obj{RUN}")
        await js.create_key_value(bucket=RESULTS_BUCKET, ttl=3600)
    finally:
        await nc.close()
    return stream, consumer


def pubsub_setup() -> str:
    """A topic and subscription on the emulator with N messages; the subscription's path."""
    import requests

    root = f"http://{PUBSUB}/v1/projects/{PROJECT}"
    topic, sub = f"{root}/topics/t{RUN}", f"{root}/subscriptions/s{RUN}"
    requests.put(topic, json={}, timeout=10).raise_for_status()
    body = {"topic": f"projects/{PROJECT}/topics/t{RUN}", "ackDeadlineSeconds": 30}
    requests.put(sub, json=body, timeout=10).raise_for_status()
    msgs = [{"data": "eyJpIjogMH0=", "attributes": {"n": str(i)}} for i in range(N)]
    requests.post(f"{topic}:publish", json={"messages": msgs}, timeout=10).raise_for_status()
    return f"projects/{PROJECT}/subscriptions/s{RUN}"


def kafka_setup() -> str:
    """A one-partition topic with N records; its name (confluent-kafka: the runner's client)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"v{RUN}"
    admin = AdminClient({"bootstrap.servers": KAFKA})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": KAFKA})
    for i in range(N):
        producer.produce(topic, json.dumps({"i": i}).encode())
    expect(producer.flush(30) == 0, "kafka: records left unsent after 30 s")
    return topic


# -- checks ------------------------------------------------------------------------------------


async def drain_twice(source: str, fields: dict[str, Any]) -> None:
    """Drain → exactly N, acked; drain again → 0 (nothing was left behind unacked)."""
    tool = {"kind": "subscription", "source": source, "batch": 100, **fields}
    first = await data_of({"tool": tool, "deadline_s": 120})
    expect(first["count"] == N, f"first drain: count {first['count']}, want {N}")
    expect(first["acked"] is True, f"first drain: acked {first['acked']}")
    second = await data_of({"tool": {**tool, "timeout_ms": 1000}, "deadline_s": 120})
    expect(second["count"] == 0, f"second drain: count {second['count']}, want 0")


async def check_nats_drain() -> None:
    stream, consumer = await nats_setup()
    fields = {"auth": "nats_main", "stream": stream, "consumer": consumer, "timeout_ms": 2000}
    await drain_twice("nats", fields)


async def check_pubsub_drain() -> None:
    sub = await asyncio.to_thread(pubsub_setup)
    await drain_twice("pubsub", {"auth": "pubsub_main", "subscription": sub, "timeout_ms": 3000})


async def check_kafka_drain() -> None:
    topic = await asyncio.to_thread(kafka_setup)
    fields = {"auth": "kafka_main", "brokers": KAFKA, "topic": topic, "group": f"g{RUN}"}
    await drain_twice("kafka", {**fields, "timeout_ms": 5000})


async def check_nats_kv() -> None:
    b = f"kv{RUN}"
    put = await data_of(nats_tool("kv_put", bucket=b, key="k1", value={"v": 1}))
    expect(put["revision"] >= 1, f"kv_put revision {put}")
    got = await data_of(nats_tool("kv_get", bucket=b, key="k1"))
    expect(got["value"] == {"v": 1}, f"kv_get value {got}")
    keys = await data_of(nats_tool("kv_keys", bucket=b))
    expect(keys["keys"] == ["k1"], f"kv_keys {keys}")
    await data_of(nats_tool("kv_delete", bucket=b, key="k1"))
    await data_of(nats_tool("kv_purge", bucket=b, key="k1"))
    gone = await data_of(nats_tool("kv_get", bucket=b, key="k1"))
    expect(gone["status"] == "not_found", f"kv_get after purge {gone}")


async def check_nats_object() -> None:
    b = f"obj{RUN}"
    await data_of(nats_tool("object_put", bucket=b, name="o1", data="hello"))
    got = await data_of(nats_tool("object_get", bucket=b, name="o1"))
    expect(got["data"] == "hello", f"object_get {got}")
    info = await data_of(nats_tool("object_info", bucket=b, name="o1"))
    expect(info["size"] == 5, f"object_info {info}")
    listed = await data_of(nats_tool("object_list", bucket=b))
    expect(listed["count"] == 1, f"object_list {listed}")
    await data_of(nats_tool("object_delete", bucket=b, name="o1"))


async def check_nats_js() -> None:
    stream = f"J{RUN}"
    import nats
    from nats.js.api import ConsumerConfig

    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().add_stream(name=stream, subjects=[f"j{RUN}.>"])
        await nc.jetstream().add_consumer(stream, ConsumerConfig(durable_name="c"))
    finally:
        await nc.close()
    pub = await data_of(nats_tool("js_publish", subject=f"j{RUN}.a", data={"x": 1}))
    expect(pub["seq"] == 1 and pub["stream"] == stream, f"js_publish {pub}")
    msg = await data_of(nats_tool("js_get_msg", stream=stream, seq=1))
    expect(msg["data"] == {"x": 1}, f"js_get_msg {msg}")
    info = await data_of(nats_tool("js_stream_info", stream=stream))
    expect(info["state"]["messages"] == 1, f"js_stream_info {info}")
    consumed = await data_of(nats_tool("js_consume", stream=stream, consumer="c", timeout_ms=2000))
    expect(consumed["count"] == 1, f"js_consume {consumed}")


async def check_nats_kv_sink() -> None:
    """The result of a nats_kv-sink invocation comes back through NATS KV."""
    inv = nats_tool("kv_put", bucket=f"sink{RUN}", key="sink", value="via-kv")
    inv["result"] = {"sink": "nats_kv", "bucket": RESULTS_BUCKET, "auth": "nats_main"}
    data = await data_of(inv)
    expect(data["key"] == "sink", f"kv sink result {data}")


def toolpod_objects() -> set[str]:
    """Every object toolpod labels in this namespace (what a bad invocation must not add)."""
    from kubernetes import client, config

    config.load_incluster_config()
    ns, sel = os.environ["TOOLPOD_NAMESPACE"], "app.kubernetes.io/name=toolpod"
    core, batch = client.CoreV1Api(), client.BatchV1Api()
    listers = {
        "job": batch.list_namespaced_job,
        "secret": core.list_namespaced_secret,
        "configmap": core.list_namespaced_config_map,
    }
    return {
        f"{kind}/{obj.metadata.name}"
        for kind, lister in listers.items()
        for obj in lister(ns, label_selector=sel).items
    }


async def check_bad_invocation() -> None:
    before = await asyncio.to_thread(toolpod_objects)
    bad = {"tool": {"kind": "subscription", "source": "kafka", "topic": "t", "batch": "lots"}}
    await toolpod(bad, want_exit=2)
    after = await asyncio.to_thread(toolpod_objects)
    expect(after <= before, f"a bad invocation created {sorted(after - before)}")


CHECKS: dict[str, Check] = {
    "nats drain N then 0": check_nats_drain,
    "pubsub drain N then 0": check_pubsub_drain,
    "kafka drain N then 0": check_kafka_drain,
    "nats kv family": check_nats_kv,
    "nats object family": check_nats_object,
    "nats js family": check_nats_js,
    "result through the nats_kv sink": check_nats_kv_sink,
}


async def timed(name: str, check: Check) -> bool:
    start = time.monotonic()
    try:
        await check()
    except Exception as e:  # every failure is reported; none stops the others
        print(f"FAIL {name} ({time.monotonic() - start:.1f}s): {type(e).__name__}: {e}", flush=True)
        return False
    print(f"ok   {name} ({time.monotonic() - start:.1f}s)", flush=True)
    return True


async def main() -> int:
    print(f"toolpod e2e validation, run {RUN}, {N} messages per source", flush=True)
    # The bad invocation runs alone first: concurrent checks create objects of their own.
    results = [await timed("bad invocation creates nothing", check_bad_invocation)]
    # The KV sink's bucket is made by the nats drain's setup: run the rest after it.
    results.append(await timed("nats drain N then 0", check_nats_drain))
    rest = [timed(n, c) for n, c in CHECKS.items() if c is not check_nats_drain]
    results += await asyncio.gather(*rest)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed", flush=True)
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
