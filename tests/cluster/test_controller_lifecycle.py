"""Idempotency, many at once, restart recovery, keep and cleanup — on the kind cluster."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from controller.api import Toolpod
from controller.k8s import Kube

from ._cluster import Cluster
from .controller_helpers import (  # noqa: F401  (fixtures)
    credential_secret,
    local_settings,
    make_toolpod,
    nats_invocation,
    toolpod_cli,
    toolpod_objects,
    wait_no_toolpod_objects,
)

pytestmark = pytest.mark.cluster


async def _messages(js: Any, stream: str) -> int:
    return int((await js.stream_info(stream)).state.messages)


@pytest.mark.usefixtures("creds")
def test_the_same_id_twice_is_one_job_and_one_result(
    toolpod: Toolpod, nats: Any, kube: Kube, namespace: str
) -> None:
    stream, prefix = nats.stream()
    doc = nats_invocation(
        "js_publish", inv_id=f"once-{uuid.uuid4().hex[:8]}", subject=f"{prefix}.a", data="x"
    )

    async def twice() -> list[Any]:
        return list(await asyncio.gather(toolpod.run(doc, 120), toolpod.run(doc, 120)))

    first, second = asyncio.run(twice())
    assert first.exit_code == second.exit_code == 0, (first, second)
    assert first.result == second.result  # the same record, not two runs
    assert nats.server.run(lambda js: _messages(js, stream)) == 1
    assert wait_no_toolpod_objects(kube, namespace) == []


@pytest.mark.usefixtures("creds")
def test_fifty_invocations_at_once(toolpod: Toolpod, nats: Any, kube: Kube, namespace: str) -> None:
    bucket = nats.kv_bucket()

    async def all_of_them() -> list[Any]:
        docs = [
            nats_invocation("kv_put", bucket=bucket, key=f"k{i}", value={"i": i}) for i in range(50)
        ]
        return list(await asyncio.gather(*(toolpod.run(d, 600) for d in docs)))

    outcomes = asyncio.run(all_of_them())
    assert [o.exit_code for o in outcomes] == [0] * 50, [o for o in outcomes if o.exit_code]
    assert sorted(o.result["data"]["key"] for o in outcomes) == sorted(f"k{i}" for i in range(50))

    async def values(js: Any) -> dict[str, Any]:
        kv = await js.key_value(bucket)
        return {k: json.loads((await kv.get(k)).value) for k in await kv.keys()}

    assert nats.server.run(values) == {f"k{i}": {"i": i} for i in range(50)}
    assert wait_no_toolpod_objects(kube, namespace, timeout=120) == []


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("sink", ["configmap", "nats_kv"])
def test_a_new_controller_finds_an_invocation_of_the_old_one(
    cluster: Cluster, nats: Any, namespace: str, kube: Kube, sink: str
) -> None:
    bucket = nats.kv_bucket()
    value = "v" * 6000  # over the termination message: the record comes from the sink
    nats.server.run(lambda js: _put(js, bucket, "k", value))
    doc = nats_invocation("kv_get", bucket=bucket, key="k")
    if sink == "nats_kv":
        doc["result"] = {"sink": "nats_kv", "bucket": nats.kv_bucket()}
    with make_toolpod(cluster, namespace) as first:
        inv_id = first.submit_sync(doc).id
    # the first controller is gone (its watches closed); state lives in the cluster
    with make_toolpod(cluster, namespace) as second:
        out = second.handle(inv_id).result_sync(120)
        # from the new controller's own watches, which begin with what is already there
        assert getattr(second.executor, "sink_reads", None) == 0
    assert (out.status, out.exit_code, out.result["invocation_id"]) == ("success", 0, inv_id)
    assert out.result["data"]["value"] == value
    assert wait_no_toolpod_objects(kube, namespace) == []


async def _put(js: Any, bucket: str, key: str, value: str) -> None:
    await (await js.key_value(bucket)).put(key, value.encode())


@pytest.mark.usefixtures("creds")
def test_cli_submit_then_wait_in_another_process(
    cluster: Cluster, nats: Any, namespace: str, kube: Kube, tmp_path: Any
) -> None:
    bucket = nats.kv_bucket()
    spec = tmp_path / "put.json"
    spec.write_text(json.dumps(nats_invocation("kv_put", bucket=bucket, key="k", value=1)))
    submitted = toolpod_cli(cluster, namespace, "submit", str(spec), timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    inv_id = submitted.stdout.strip()
    waited = toolpod_cli(cluster, namespace, "wait", inv_id, "-o", "json", timeout=120)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["data"]["revision"] == 1
    assert wait_no_toolpod_objects(kube, namespace) == []  # collected by wait
    kept = toolpod_cli(cluster, namespace, "get", inv_id, timeout=60)
    assert kept.returncode == 0, kept.stderr  # the record answers for the retention period
    assert json.loads(kept.stdout) == json.loads(waited.stdout)


@pytest.mark.usefixtures("creds")
def test_an_id_stays_idempotent_after_its_job_is_gone(
    cluster: Cluster, nats: Any, namespace: str, kube: Kube, tmp_path: Any
) -> None:
    """The record outlives the Job: running the same invocation again (another process, Job
    long deleted) answers with the first result and runs nothing; another body is refused."""
    bucket = nats.kv_bucket()
    doc = nats_invocation("kv_put", inv_id=f"id-{uuid.uuid4().hex[:6]}", bucket=bucket, key="k", value=1)
    spec = tmp_path / "put.json"
    spec.write_text(json.dumps(doc))
    first = toolpod_cli(cluster, namespace, "run", str(spec), timeout=120)
    assert first.returncode == 0, first.stderr
    assert wait_no_toolpod_objects(kube, namespace) == []
    again = toolpod_cli(cluster, namespace, "run", str(spec), timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)  # revision 1: no second put
    assert toolpod_objects(kube, namespace) == []  # no Job was made for it
    spec.write_text(json.dumps({**doc, "step": "another"}))
    other = toolpod_cli(cluster, namespace, "run", str(spec), timeout=60)
    assert other.returncode == 2
    assert "already used by a different invocation" in other.stderr


@pytest.mark.usefixtures("creds")
def test_keep_leaves_the_job_for_debugging(cluster: Cluster, namespace: str, kube: Kube) -> None:
    with make_toolpod(cluster, namespace, keep=True) as tp:
        out = tp.run_sync(nats_invocation("kv_get", bucket="no_such", key="k"), 120)
        assert out.exit_code == 2
        assert f"Job/toolpod-{out.result['invocation_id']}" in toolpod_objects(kube, namespace)
        assert "no_such" in tp.executor.logs(out.result["invocation_id"])
        kube.delete("batch/v1", "Job", namespace, f"toolpod-{out.result['invocation_id']}")
    # garbage collection takes the Pod, spec Secret, result ConfigMap and RBAC with the Job
    assert wait_no_toolpod_objects(kube, namespace) == []


@pytest.mark.usefixtures("creds")
def test_a_submit_cut_short_is_finished_by_the_next_one(
    cluster: Cluster, nats: Any, namespace: str, kube: Kube
) -> None:
    """A controller that died between creating the (suspended) Job and resuming it: the same
    invocation submitted again attaches, creates the missing satellites and resumes it."""
    from controller.render import render
    from runner.spec.invocation import parse_invocation

    bucket = nats.kv_bucket()
    doc = nats_invocation("kv_put", inv_id="cut-short", bucket=bucket, key="k", value="v")
    rendered = render(parse_invocation(doc), local_settings(cluster, namespace))
    kube.create(rendered.job)  # ...and nothing else: the first controller died here
    with make_toolpod(cluster, namespace) as tp:
        out = tp.run_sync(doc, 120)
    assert (out.status, out.exit_code) == ("success", 0), out
    assert out.result["data"]["revision"] == 1
    assert wait_no_toolpod_objects(kube, namespace) == []
