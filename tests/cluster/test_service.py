"""``toolpod serve`` end to end (docs/reference.md §8): a real server process on loopback, real Jobs on the
kind cluster, real TokenReview and SubjectAccessReview for real ServiceAccount tokens."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controller.client import AsyncClient, Client
from controller.k8s import Kube
from controller.watch import Transient

from ._cluster import Cluster
from .controller_helpers import nats_invocation, toolpod_objects, wait_no_toolpod_objects
from .service_helpers import Server, bearer, service_account

pytestmark = pytest.mark.cluster
ALL_VERBS = ["create", "get", "list", "delete"]


@pytest.fixture
def server(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[Server]:
    srv = Server(cluster, namespace, tmp_path / "serve.log").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def token(kube: Kube, namespace: str) -> str:
    return service_account(kube, namespace, "worker", ALL_VERBS)


def url(srv: Server, ns: str, inv_id: str = "") -> str:
    base = f"{srv.url}/v1/namespaces/{ns}/invocations"
    return f"{base}/{inv_id}" if inv_id else base


def kv_put(nats: Any, inv_id: str | None = None, **extra: Any) -> dict[str, Any]:
    doc = nats_invocation("kv_put", inv_id, bucket=nats.kv_bucket(), key="k", value="v")
    return {**doc, **extra}


def slow(nats: Any, inv_id: str | None = None, seconds: float = 8) -> dict[str, Any]:
    """A drain of an empty stream: it waits its whole timeout, then succeeds with 0 messages."""
    stream, _ = nats.stream()
    return nats_invocation(
        "js_consume",
        inv_id,
        stream=stream,
        consumer=nats.consumer(stream),
        batch=10,
        timeout_ms=int(seconds * 1000),
    )


@pytest.mark.usefixtures("creds")
def test_sync_post_gives_the_finished_record_and_get_keeps_it(
    server: Server, token: str, namespace: str, nats: Any, kube: Kube
) -> None:
    inv_id = f"sync-{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        url(server, namespace),
        json=kv_put(nats, inv_id),
        params={"wait": 60},
        headers=bearer(token),
        timeout=90,
    )
    assert r.status_code == 200, r.text
    assert r.headers["location"] == f"/v1/namespaces/{namespace}/invocations/{inv_id}"
    rec = r.json()
    assert set(rec) == {
        "id",
        "namespace",
        "phase",
        "exit_code",
        "result",
        "reason",
        "job",
        "created_at",
        "finished_at",
    }
    assert (rec["id"], rec["namespace"], rec["phase"], rec["exit_code"]) == (
        inv_id,
        namespace,
        "Succeeded",
        0,
    )
    assert rec["result"]["data"]["revision"] == 1
    assert rec["job"] == f"toolpod-{inv_id}"
    # The Job is gone; the record is what answers, for GET and for list by execution id.
    assert wait_no_toolpod_objects(kube, namespace) == []
    again = httpx.get(url(server, namespace, inv_id), headers=bearer(token))
    assert (again.status_code, again.json()) == (200, rec)
    listed = httpx.get(
        url(server, namespace), params={"execution_id": "exec-1"}, headers=bearer(token)
    )
    assert [i["id"] for i in listed.json()["items"]] == [inv_id]
    other = httpx.get(url(server, namespace), params={"execution_id": "x"}, headers=bearer(token))
    assert other.json()["items"] == []


@pytest.mark.usefixtures("creds")
def test_async_post_then_long_poll(server: Server, token: str, namespace: str, nats: Any) -> None:
    r = httpx.post(url(server, namespace), json=slow(nats, seconds=3), headers=bearer(token))
    assert r.status_code == 202, r.text
    rec = r.json()
    assert rec["phase"] in ("Queued", "Running")
    assert rec["result"] is None
    short = httpx.get(
        server.url + r.headers["location"], params={"wait": 0.5}, headers=bearer(token)
    )
    assert (short.status_code, short.json()["phase"]) == (202, "Running")
    done = httpx.get(
        server.url + r.headers["location"], params={"wait": 60}, headers=bearer(token), timeout=90
    )
    assert (done.status_code, done.json()["phase"], done.json()["exit_code"]) == (
        200,
        "Succeeded",
        0,
    )
    assert done.json()["result"]["data"]["count"] == 0


@pytest.mark.usefixtures("creds")
def test_the_python_client_sync_and_async(
    server: Server, token: str, namespace: str, nats: Any
) -> None:
    with Client(server.url, namespace, token=token) as tp:
        rec = tp.run(kv_put(nats), timeout=90)
        assert (rec["phase"], rec["exit_code"]) == ("Succeeded", 0)
        assert tp.get(rec["id"]) == rec

    docs = [kv_put(nats) for _ in range(3)]  # buckets made before the client's loop runs

    async def go() -> list[dict[str, Any]]:
        async with AsyncClient(server.url, namespace, token=token) as atp:
            recs = await asyncio.gather(*(atp.submit(d) for d in docs))
            return list(await asyncio.gather(*(atp.wait(r["id"], 120) for r in recs)))

    assert [r["phase"] for r in asyncio.run(go())] == ["Succeeded"] * 3


@pytest.mark.usefixtures("creds")
def test_errors_have_their_status_and_create_nothing(
    server: Server, token: str, namespace: str, nats: Any, kube: Kube
) -> None:
    getter = service_account(kube, namespace, "getter", ["get"])
    nobody = service_account(kube, namespace, "nobody", [])
    good = kv_put(nats, "taken")
    bad_body = {"tool": {"kind": "nats", "operation": "kv_get", "bukcet": "b", "key": "k"}}
    cases: list[tuple[str, str, Any, dict[str, str], int, str]] = [
        ("POST", url(server, namespace), good, {}, 401, "unauthenticated"),
        ("POST", url(server, namespace), good, bearer("garbage.token"), 401, "unauthenticated"),
        ("POST", url(server, namespace), good, bearer(nobody), 403, "forbidden"),
        ("POST", url(server, namespace), good, bearer(getter), 403, "forbidden"),
        ("GET", url(server, namespace), None, bearer(getter), 403, "forbidden"),
        ("POST", url(server, namespace), bad_body, bearer(token), 422, "invalid"),
        ("POST", url(server, "Not_A_Namespace"), good, bearer(token), 422, "invalid"),
        ("GET", url(server, namespace, "UPPER"), None, bearer(token), 422, "invalid"),
        ("GET", url(server, namespace, "no-such-id"), None, bearer(getter), 404, "not_found"),
        ("DELETE", url(server, namespace, "no-such-id"), None, bearer(token), 404, "not_found"),
    ]
    for method, where, body, headers, status, kind in cases:
        r = httpx.request(method, where, json=body, headers=headers, timeout=30)
        assert (r.status_code, r.json()["error"]["kind"]) == (status, kind), (method, where, r.text)
        assert "Traceback" not in r.text
        assert "garbage.token" not in r.text
    unknown = httpx.post(url(server, namespace), json=bad_body, headers=bearer(token)).json()
    assert set(unknown["error"]["fields"]) == {"tool.bucket", "tool.bukcet"}
    assert "did you mean 'bucket'" in unknown["error"]["message"]
    assert toolpod_objects(kube, namespace) == []  # nothing was created by any of them
    first = httpx.post(
        url(server, namespace), json=good, params={"wait": 60}, headers=bearer(token), timeout=90
    )
    assert first.status_code == 200
    conflict = httpx.post(
        url(server, namespace), json={**good, "step": "other"}, headers=bearer(token)
    )
    assert (conflict.status_code, conflict.json()["error"]["fields"]) == (409, ["id"])


def test_missing_credential_secret_is_422(
    server: Server, token: str, namespace: str, nats: Any
) -> None:
    r = httpx.post(url(server, namespace), json=kv_put(nats), headers=bearer(token))
    assert r.status_code == 422
    assert "toolpod-cred-nats-main" in r.json()["error"]["message"]


@pytest.mark.usefixtures("creds")
def test_the_same_id_twenty_times_at_once_is_one_job(
    server: Server, token: str, namespace: str, nats: Any, nats_server: Any
) -> None:
    stream, prefix = nats.stream()
    doc = nats_invocation(
        "js_publish", f"race-{uuid.uuid4().hex[:6]}", subject=f"{prefix}.a", data="x"
    )

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            url(server, namespace),
                            json=doc,
                            params={"wait": 90},
                            headers=bearer(token),
                        )
                        for _ in range(20)
                    )
                )
            )

    answers = asyncio.run(race())
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers]
    assert len({json.dumps(r.json(), sort_keys=True) for r in answers}) == 1  # identical
    assert answers[0].json()["result"]["data"]["seq"] == 1  # published once: one run

    async def count(js: Any) -> int:
        return int((await js.stream_info(stream)).state.messages)

    assert nats_server.run(count) == 1


@pytest.mark.usefixtures("creds")
def test_aliases_of_another_namespace_are_refused(
    server: Server, namespace: str, nats: Any, kube: Kube, cluster: Cluster, request: Any
) -> None:
    """A ServiceAccount of another namespace, granted `create` here, may not name this
    namespace's credential aliases (their Secrets are this namespace's)."""
    from .conftest import _make_namespace

    gen = _make_namespace(cluster, "privileged", request)
    foreign_ns = next(gen)
    try:
        foreign = service_account(kube, foreign_ns, "intruder", ALL_VERBS, role_ns=namespace)
        r = httpx.post(url(server, namespace), json=kv_put(nats), headers=bearer(foreign))
        assert (r.status_code, r.json()["error"]["fields"]) == (403, ["tool.auth"]), r.text
        assert toolpod_objects(kube, namespace) == []
    finally:
        next(gen, None)


@pytest.mark.usefixtures("creds")
def test_a_restart_loses_nothing_in_flight(
    cluster: Cluster, namespace: str, nats: Any, token: str, tmp_path: Path
) -> None:
    first = Server(cluster, namespace, tmp_path / "a.log").start()
    ids = []
    try:
        for _ in range(4):
            r = httpx.post(url(first, namespace), json=slow(nats, seconds=6), headers=bearer(token))
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    finally:
        first.stop(9)  # SIGKILL: no goodbye
    second = Server(cluster, namespace, tmp_path / "b.log").start()
    try:
        for inv_id in ids:
            r = httpx.get(
                url(second, namespace, inv_id),
                params={"wait": 90},
                headers=bearer(token),
                timeout=120,
            )
            assert (r.status_code, r.json()["phase"]) == (200, "Succeeded"), r.text
    finally:
        second.stop()


@pytest.mark.usefixtures("creds")
def test_two_replicas_post_to_one_get_from_the_other(
    cluster: Cluster, namespace: str, nats: Any, token: str, tmp_path: Path
) -> None:
    a = Server(cluster, namespace, tmp_path / "a.log").start()
    b = Server(cluster, namespace, tmp_path / "b.log").start()
    try:
        posted = httpx.post(url(a, namespace), json=slow(nats, seconds=2), headers=bearer(token))
        assert posted.status_code == 202
        got = httpx.get(
            b.url + posted.headers["location"],
            params={"wait": 60},
            headers=bearer(token),
            timeout=90,
        )
        assert (got.status_code, got.json()["phase"]) == (200, "Succeeded"), got.text
        again = httpx.get(a.url + posted.headers["location"], headers=bearer(token))
        assert again.json() == got.json()
    finally:
        a.stop()
        b.stop()


@pytest.mark.usefixtures("creds")
def test_queue_full_is_429_and_a_cancelled_queued_invocation_never_gets_a_job(
    cluster: Cluster, namespace: str, nats: Any, token: str, tmp_path: Path, kube: Kube
) -> None:
    srv = Server(
        cluster, namespace, tmp_path / "s.log", "--max-in-flight", "1", "--max-queued", "1"
    ).start()
    try:
        running = httpx.post(url(srv, namespace), json=slow(nats, seconds=6), headers=bearer(token))
        queued = httpx.post(url(srv, namespace), json=slow(nats), headers=bearer(token))
        full = httpx.post(url(srv, namespace), json=slow(nats), headers=bearer(token))
        assert [running.json()["phase"], queued.json()["phase"]] == ["Running", "Queued"]
        assert full.status_code == 429
        assert int(full.headers["retry-after"]) > 0
        assert full.json()["error"]["kind"] == "busy"
        qid = queued.json()["id"]
        assert (
            httpx.get(url(srv, namespace, qid), headers=bearer(token)).json()["phase"] == "Queued"
        )
        cancelled = httpx.delete(url(srv, namespace, qid), headers=bearer(token))
        assert (cancelled.status_code, cancelled.json()["phase"]) == (200, "Cancelled")
        done = httpx.get(
            url(srv, namespace, running.json()["id"]),
            params={"wait": 60},
            headers=bearer(token),
            timeout=90,
        )
        assert done.json()["phase"] == "Succeeded"
        assert kube.get("batch/v1", "Job", namespace, f"toolpod-{qid}") is None
    finally:
        srv.stop()


@pytest.mark.usefixtures("creds")
def test_cancel_a_running_invocation(server: Server, token: str, namespace: str, nats: Any) -> None:
    r = httpx.post(url(server, namespace), json=slow(nats, seconds=30), headers=bearer(token))
    gone = httpx.delete(server.url + r.headers["location"], headers=bearer(token), timeout=30)
    assert (gone.status_code, gone.json()["phase"], gone.json()["exit_code"]) == (
        200,
        "Cancelled",
        5,
    )


class JobCounter:
    """Jobs existing at once in a namespace, as the API server's watch tells (not the
    service's own counters)."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.live: set[str] = set()
        self.most = 0
        self.broken = False
        self.stop = threading.Event()
        items, rv = kube.list("batch/v1", "Job", namespace, "app.kubernetes.io/name=toolpod")
        assert items == []
        self._watch = kube.watch_fn("batch/v1", "Job", namespace, "app.kubernetes.io/name=toolpod")
        self._rv = rv
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._follow()
            except Transient:  # a broken stream: watch again from the last version seen
                continue

    def _follow(self) -> None:
        while not self.stop.is_set():
            for ev in self._watch(self._rv):
                if ev["type"] == "ERROR":  # expired: the count would have a gap
                    self.broken = True
                    return
                obj = ev["object"]
                self._rv = obj["metadata"]["resourceVersion"]
                name = obj["metadata"].get("name", "")
                if ev["type"] == "ADDED":
                    self.live.add(name)
                elif ev["type"] == "DELETED":
                    self.live.discard(name)
                self.most = max(self.most, len(self.live))
                if self.stop.is_set():
                    return


@pytest.mark.timeout(1800)  # 300 Jobs, 20 at a time, on 2 shared cores
@pytest.mark.usefixtures("creds")
def test_a_burst_of_300_never_exceeds_max_in_flight_jobs(
    cluster: Cluster, namespace: str, nats: Any, token: str, tmp_path: Path, kube: Kube
) -> None:
    srv = Server(cluster, namespace, tmp_path / "s.log", "--max-in-flight", "20").start()
    counter = JobCounter(kube, namespace)
    bucket = nats.kv_bucket()
    docs = [nats_invocation("kv_put", bucket=bucket, key=f"k{i}", value=i) for i in range(300)]

    async def burst() -> list[dict[str, Any]]:
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            posted = await asyncio.gather(
                *(http.post(url(srv, namespace), json=d, headers=bearer(token)) for d in docs)
            )
        assert {p.status_code for p in posted} == {202}, [p.text for p in posted][:3]
        ids = {p.json()["id"] for p in posted}
        with Client(srv.url, namespace, token=token) as client:  # one list every 2 s
            deadline = time.monotonic() + 1500
            while time.monotonic() < deadline:
                rows = [r for r in client.list() if r["id"] in ids]
                if all(r["phase"] in ("Succeeded", "Failed", "Cancelled") for r in rows):
                    return rows
                await asyncio.sleep(2)
        raise AssertionError("not all 300 finished in 1500 s")

    try:
        records = asyncio.run(burst())
    finally:
        counter.stop.set()
        srv.stop()
    assert len(records) == 300
    assert [r["phase"] for r in records] == ["Succeeded"] * 300, [
        r for r in records if r["phase"] != "Succeeded"
    ][:2]
    assert not counter.broken
    assert 1 < counter.most <= 20, counter.most


def test_not_ready_is_503(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    """A service whose API server is not there answers 503 (and stays up), never a hang."""
    dead = tmp_path / "dead.kubeconfig"
    cfg = re.sub(r"(server: https://[^\s:]+):\d+", r"\1:1", cluster.kubeconfig.read_text())
    dead.write_text(cfg)
    srv = Server(cluster, namespace, tmp_path / "s.log", KUBECONFIG=str(dead)).start(ready=False)
    try:
        assert httpx.get(srv.url + "/readyz").status_code == 503
        r = httpx.post(url(srv, namespace), json={"tool": {}}, headers=bearer("x"))
        assert (r.status_code, r.json()["error"]["kind"]) == (503, "not_ready")
    finally:
        srv.stop()


def test_metrics_and_openapi(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "Invocation" in spec["components"]["schemas"]
    assert "InvocationRecord" in spec["components"]["schemas"]
    assert set(spec["paths"]) == {
        "/v1/namespaces/{ns}/invocations",
        "/v1/namespaces/{ns}/invocations/{inv_id}",
    }
    text = httpx.get(server.url + "/metrics").text
    for name in ("toolpod_in_flight", "toolpod_queued", "toolpod_submit_to_result_seconds", "process_resident_memory_bytes"):
        assert name in text
    assert "execution_id" not in text


@pytest.mark.usefixtures("creds")
def test_the_cli_through_the_service(
    server: Server, token: str, namespace: str, nats: Any, tmp_path: Path
) -> None:
    """`toolpod --server URL` needs no kubeconfig: only the URL and a token file."""
    import os
    import subprocess
    import sys

    spec, token_file = tmp_path / "put.json", tmp_path / "token"
    spec.write_text(json.dumps(kv_put(nats, f"cli-{uuid.uuid4().hex[:6]}")))
    token_file.write_text(token)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env |= {"TOOLPOD_SERVER": server.url, "TOOLPOD_NAMESPACE": namespace}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "controller.cli", *args, "--token-file", str(token_file)]
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    ran = cli("run", str(spec))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["data"]["revision"] == 1
    inv_id = json.loads(ran.stdout)["invocation_id"]
    got = cli("get", inv_id)
    assert (got.returncode, json.loads(got.stdout)) == (0, json.loads(ran.stdout))
    token_file.write_text("garbage")
    refused = cli("get", inv_id)
    assert refused.returncode == 2
    assert "401" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_only_the_watched_namespaces_are_served(
    cluster: Cluster, namespace: str, kube: Kube, tmp_path: Path
) -> None:
    """The chart's RBAC reaches only its namespaces: the service says so instead of failing
    on the API server (and only to a caller it authenticated)."""
    args = ("--namespace-watch", namespace, "--only-watched")
    srv = Server(cluster, namespace, tmp_path / "s.log", *args).start()
    try:
        tok = service_account(kube, namespace, "watcher", ALL_VERBS)
        assert httpx.get(url(srv, "elsewhere")).status_code == 401
        r = httpx.get(url(srv, "elsewhere"), headers=bearer(tok))
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"] == (
            f"namespace elsewhere is not served here (served: {namespace})"
        )
        assert httpx.get(url(srv, namespace), headers=bearer(tok)).status_code == 200
    finally:
        srv.stop()
