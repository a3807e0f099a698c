#!/usr/bin/env python3
"""The controller's overhead and throughput on a running cluster (the kind one by default),
beside the same Jobs created and awaited with kubectl in the same run.

Every invocation is a real `kv_put` against a NATS server started for the run, with the result
through the runner's ConfigMap sink (or `--sink nats_kv`: a KV bucket, whose one shared watcher
brings results back). `--result-bytes N` makes it a `kv_get` of an N-byte value instead, so a
result over the termination message's 4 KiB has to come from the sink. An independent observer
(its own list+watch on Pods) notes when each runner container is seen terminated.

    latency (sequential, -n): submit → Job created and resumed; pod finished → result returned;
                              end to end, and kubectl create + kubectl wait for the same Jobs
    throughput (-c at once):  controller (asyncio, one process) vs one `kubectl create -f` of
                              all manifests + `kubectl wait -l ...`

    e2e/kind/up && e2e/kind/exec .venv/bin/python bench/controller.py [-n 50] [-c 100] \
        [--sink configmap|nats_kv] [--result-bytes 8000]

Offline, e2e/kind/exec runs it inside the cluster's network namespace, and its NATS server
listens on the kind network's gateway there (TOOLPOD_KIND_GATEWAY), which runner Pods reach.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller import labels as L  # noqa: E402
from controller.api import Toolpod  # noqa: E402
from controller.k8s import Kube, api_client  # noqa: E402
from controller.render import render  # noqa: E402
from controller.settings import Settings  # noqa: E402
from controller.watch import Handlers, Informer  # noqa: E402
from runner.spec.invocation import parse_invocation  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def kind_env() -> dict[str, str]:
    out = subprocess.run([str(REPO / "e2e/kind/env")], capture_output=True, text=True, check=True)
    return dict(re.findall(r"^export (\w+)=(\S*)$", out.stdout, re.MULTILINE))


class PodObserver:
    """When each invocation's runner container was first seen terminated (monotonic time)."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.done: dict[str, float] = {}
        self._lock = threading.Lock()
        self.informer = Informer(
            "bench-pods",
            kube.list_fn("v1", "Pod", namespace, L.ALL),
            kube.watch_fn("v1", "Pod", namespace, L.ALL),
            Handlers(lambda items: [self._see(p) for p in items], lambda _t, p: self._see(p)),
        )
        self.informer.start()
        self.informer.synced.wait(30)

    def _see(self, pod: dict[str, Any]) -> None:
        inv = (pod["metadata"].get("labels") or {}).get(L.INVOCATION)
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if inv and (cs.get("state") or {}).get("terminated"):
                with self._lock:
                    self.done.setdefault(inv, time.monotonic())


def kubectl_manifests(docs: list[dict[str, Any]], settings: Settings, run: str) -> str:
    """The controller's own rendering, unsuspended and without owner references."""
    out = []
    for doc in docs:
        r = render(parse_invocation(doc), settings)
        job = json.loads(json.dumps(r.job))
        job["spec"]["suspend"] = False
        job["metadata"]["labels"]["bench-run"] = run
        out += [*r.satellites(), job]
    return "\n---\n".join(json.dumps(m) for m in out)


@dataclass
class Bench:
    kube: Kube
    ns: str
    settings: Settings
    kubeconfig: str
    kubectl_env: dict[str, str]
    workdir: Path
    failed: int = 0
    #: Results the controller had to read from their sink because its watch was behind.
    sink_reads: int = 0

    def kubectl(self, *args: str) -> None:
        k = shutil.which("kubectl", path=self.kubectl_env["PATH"]) or "kubectl"
        subprocess.run(
            [k, *args], env=self.kubectl_env, check=True, capture_output=True, timeout=900
        )

    def toolpod(self) -> Toolpod:
        return Toolpod.kubernetes(self.settings, client=api_client(self.kubeconfig))


#: Set by main() from --sink and --result-bytes.
SHAPE = {"sink": "configmap", "result_bytes": 0}
BIG_KEY = "big"


def doc(prefix: str, i: int) -> dict[str, Any]:
    tool: dict[str, Any] = {"kind": "nats", "auth": "nats_main", "bucket": "bench"}
    if SHAPE["result_bytes"]:
        tool = {**tool, "operation": "kv_get", "key": BIG_KEY}
    else:
        tool = {**tool, "operation": "kv_put", "key": f"{prefix}-{i}", "value": i}
    out: dict[str, Any] = {"id": f"{prefix}-{i}", "tool": tool}
    if SHAPE["sink"] == "nats_kv":
        out["result"] = {"sink": "nats_kv", "bucket": "bench_results"}
    return out


def controller_latency(b: Bench, tp: Toolpod, n: int) -> dict[str, list[float]]:
    observer = PodObserver(b.kube, b.ns)
    out: dict[str, list[float]] = {"submit": [], "finish": [], "e2e": []}
    for i in range(n):
        t0 = time.monotonic()
        handle = tp.submit_sync(doc("lat", i))
        t1 = time.monotonic()
        outcome = handle.result_sync(300)
        t2 = time.monotonic()
        b.failed += outcome.exit_code != 0
        out["submit"].append((t1 - t0) * 1000)
        out["e2e"].append((t2 - t0) * 1000)
        if handle.id in observer.done:
            out["finish"].append((t2 - observer.done[handle.id]) * 1000)
        ms = out["e2e"][-1]
        print(f"  controller {i + 1}/{n}: {outcome.status} {ms:.0f} ms", file=sys.stderr)
    observer.informer.stop.set()
    return out


def kubectl_latency(b: Bench, n: int) -> list[float]:
    times = []
    for i in range(n):
        path = b.workdir / f"k{i}.json"
        path.write_text(kubectl_manifests([doc("klat", i)], b.settings, "lat"))
        t0 = time.monotonic()
        b.kubectl("create", "-f", str(path))
        job = f"job/toolpod-klat-{i}"
        b.kubectl("wait", "-n", b.ns, "--for=condition=complete", "--timeout=300s", job)
        times.append((time.monotonic() - t0) * 1000)
        print(f"  kubectl {i + 1}/{n}: {times[-1]:.0f} ms", file=sys.stderr)
    b.kubectl("delete", "-n", b.ns, "jobs", "-l", "bench-run=lat", "--cascade=background")
    return times


def controller_burst(b: Bench, tp: Toolpod, c: int) -> float:
    async def burst() -> list[Any]:
        return list(await asyncio.gather(*(tp.run(doc("tp", i), 600) for i in range(c))))

    t0 = time.monotonic()
    outs = asyncio.run(burst())
    wall = time.monotonic() - t0
    b.failed += sum(o.exit_code != 0 for o in outs)
    return wall


def kubectl_burst(b: Bench, c: int) -> float:
    path = b.workdir / "burst.json"
    path.write_text(kubectl_manifests([doc("ktp", i) for i in range(c)], b.settings, "tp"))
    t0 = time.monotonic()
    b.kubectl("create", "-f", str(path))
    sel = ["jobs", "-l", "bench-run=tp"]
    b.kubectl("wait", "-n", b.ns, "--for=condition=complete", "--timeout=900s", *sel)
    return time.monotonic() - t0


def stats(v: list[float]) -> str:
    return f"{statistics.median(v):8.0f} {percentile(v, 95):8.0f}" if v else "       -        -"


def report(
    a: Any, b: Bench, lat: dict[str, list[float]], klat: list[float], walls: tuple[float, float]
) -> None:
    ctl_wall, k_wall = walls
    op = f"kv_get of {a.result_bytes} bytes" if a.result_bytes else "kv_put"
    print(
        f"\ntoolpod controller benchmark: {op}, {a.sink} sink, {a.n} sequential, "
        f"{a.c} concurrent; failures: {b.failed}; direct sink reads: {b.sink_reads}"
    )
    overhead = statistics.median(lat["e2e"]) - statistics.median(klat)
    rows = [
        ("latency, ms", f"{'median':>8} {'p95':>8}"),
        ("submit -> Job created and resumed", stats(lat["submit"])),
        ("pod finished -> result returned", stats(lat["finish"])),
        ("controller: submit -> result", stats(lat["e2e"])),
        ("kubectl create + wait, same Jobs", stats(klat)),
        ("controller minus kubectl (median)", f"{overhead:8.0f}"),
        (f"throughput, {a.c} at once", f"{'wall s':>8} {'inv/s':>8}"),
        ("controller (asyncio, one process)", f"{ctl_wall:8.1f} {a.c / ctl_wall:8.2f}"),
        ("kubectl create -f + kubectl wait", f"{k_wall:8.1f} {a.c / k_wall:8.2f}"),
        ("controller / kubectl throughput", f"{'':>8} {k_wall / ctl_wall:8.0%}"),
    ]
    for k, v in rows:
        print(f"  {k:<40} {v}")


def run(a: Any, b: Bench) -> int:
    tp = b.toolpod()
    try:
        lat = controller_latency(b, tp, a.n)
        klat = kubectl_latency(b, a.n)
        ctl_wall = controller_burst(b, tp, a.c)
        b.sink_reads = getattr(tp.executor, "sink_reads", 0)
    finally:
        tp.close()
    k_wall = kubectl_burst(b, a.c)
    report(a, b, lat, klat, (ctl_wall, k_wall))
    return 1 if b.failed else 0


def setup(kube: Kube, ns: str, server: Any, result_bytes: int) -> None:
    cred = base64.b64encode(json.dumps(server.credential()).encode()).decode()
    meta = {"name": "toolpod-cred-nats-main", "namespace": ns}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": {"credential": cred}}
    kube.create(secret)

    async def buckets(js: Any) -> None:
        kv = await js.create_key_value(bucket="bench")
        await js.create_key_value(bucket="bench_results")
        if result_bytes:
            await kv.put(BIG_KEY, b"x" * result_bytes)

    server.run(buckets)


def local_settings(env: dict[str, str], ns: str) -> Settings:
    """The controller's settings for the benchmarks' kind cluster: production settings (pod
    network, the `kubernetes` Service) and the runner image loaded into the cluster
    (``TOOLPOD_RUNNER_IMAGE``, default ``toolpod-runner:dev``)."""
    image = os.environ.get("TOOLPOD_RUNNER_IMAGE") or env.get("TOOLPOD_RUNNER_IMAGE")
    return Settings(
        namespace=ns,
        image=image or "toolpod-runner:dev",
        image_pull_policy="Never",
    )


@contextmanager
def kind_bench(prefix: str, result_bytes: int) -> Iterator[Bench]:
    """What every kind bench stands on: a restricted namespace ``PREFIX-xxxxxx``, a NATS
    server of the bench's own (reached by Pods through the kind gateway), the namespace's
    credentials and result bucket (``setup``); all of it goes at the end."""
    from tests.fixtures._process import stop
    from tests.fixtures.nats import start_nats

    env = kind_env()
    kubeconfig = env["KUBECONFIG"]
    if gateway := env.get("TOOLPOD_KIND_GATEWAY"):
        os.environ["TOOLPOD_TEST_BROKER_HOST"] = gateway
    client = api_client(kubeconfig)
    kube = Kube(client)
    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": labels},
    }
    kube.call("POST", "/api/v1/namespaces", body=namespace)
    workdir = Path(tempfile.mkdtemp(prefix=f"toolpod-{prefix}-"))
    proc, server = start_nats(workdir)
    try:
        setup(kube, ns, server, result_bytes)
        settings = local_settings(env, ns)
        kenv = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": env.get("PATH", os.environ["PATH"])}
        yield Bench(kube, ns, settings, kubeconfig, kenv, workdir)
    finally:
        stop(proc)
        kube.call("DELETE", f"/api/v1/namespaces/{ns}")
        client.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=50, help="sequential invocations for latency")
    p.add_argument("-c", type=int, default=100, help="concurrent invocations for throughput")
    p.add_argument("--sink", choices=["configmap", "nats_kv"], default="configmap")
    p.add_argument(
        "--result-bytes", type=int, default=0, help="kv_get a value of this size (0: kv_put)"
    )
    a = p.parse_args()
    SHAPE.update(sink=a.sink, result_bytes=a.result_bytes)

    with kind_bench("bench-ctl", a.result_bytes) as b:
        return run(a, b)


if __name__ == "__main__":
    sys.exit(main())
