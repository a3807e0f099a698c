#!/usr/bin/env python3
"""What ``toolpod serve`` adds over the controller driven directly, in the same run on a
running cluster (the local one by default): the same ``kv_put`` invocations (a NATS server
started for the run, results through the ConfigMap sink) once through the Python API in this
process, once through the HTTP service (the worker client, ``POST ?wait=``).

    latency (-n, sequential, alternating):  submit -> finished record, direct vs service
    throughput (-c at once):                 direct (asyncio) vs service (AsyncClient)
    memory:                                  the server's RSS, idle and after 1000 finished
                                             records were retained and read through it

    e2e/kind/up && e2e/kind/exec .venv/bin/python bench/service.py [-n 50] [-c 100] [--records 1000]

The service runs ``--no-auth`` (the bench has no ServiceAccount token) with ``--max-in-flight``
at least ``-c``, so the cap does not queue the burst.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from controller.api import Toolpod  # noqa: E402
from controller.client import AsyncClient, Client  # noqa: E402
from controller.k8s import Kube, api_client  # noqa: E402
from controller.records import Records  # noqa: E402
from controller.settings import Settings  # noqa: E402
from runner.spec.invocation import parse_invocation  # noqa: E402


def _bench_controller() -> Any:
    """bench/controller.py's helpers (its file name shadows the `controller` package)."""
    spec = importlib.util.spec_from_file_location("bench_controller", REPO / "bench/controller.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_controller"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BC = _bench_controller()


def doc(prefix: str, i: int) -> dict[str, Any]:
    tool = {"kind": "nats", "auth": "nats_main", "bucket": "bench", "operation": "kv_put"}
    return {"id": f"{prefix}-{i}", "tool": {**tool, "key": f"{prefix}-{i}", "value": i}}


def latency(tp: Toolpod, client: Client, n: int) -> tuple[list[float], list[float], int]:
    direct, service, failed = [], [], 0
    for i in range(n):
        t0 = time.monotonic()
        failed += tp.run_sync(doc("d", i), 300).exit_code != 0
        t1 = time.monotonic()
        failed += client.run(doc("s", i), 300)["exit_code"] != 0
        t2 = time.monotonic()
        direct.append((t1 - t0) * 1000)
        service.append((t2 - t1) * 1000)
        print(
            f"  {i + 1}/{n}: direct {direct[-1]:.0f} ms, service {service[-1]:.0f} ms",
            file=sys.stderr,
        )
    return direct, service, failed


def burst_direct(tp: Toolpod, c: int) -> tuple[float, int]:
    async def go() -> list[Any]:
        return list(await asyncio.gather(*(tp.run(doc("bd", i), 900) for i in range(c))))

    t0 = time.monotonic()
    outs = asyncio.run(go())
    return time.monotonic() - t0, sum(o.exit_code != 0 for o in outs)


def burst_service(url: str, ns: str, c: int) -> tuple[float, int]:
    async def go() -> list[Any]:
        async with AsyncClient(url, ns) as client:
            return list(await asyncio.gather(*(client.run(doc("bs", i), 900) for i in range(c))))

    t0 = time.monotonic()
    outs = asyncio.run(go())
    return time.monotonic() - t0, sum(o["exit_code"] != 0 for o in outs)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def retained(kube: Kube, client: Client, ns: str, count: int) -> None:
    """``count`` finished records in the cluster (written as the executor writes them), each
    read once through the service."""
    from controller.outcome import Outcome

    records = Records(kube, ns)
    result = {
        "status": "success",
        "data": {"revision": 1},
        "tool": {"kind": "nats", "operation": "kv_put"},
    }
    for i in range(count):
        inv = parse_invocation(doc("r", i))
        records.claim(inv)
        records.finish(
            inv.invocation_id,
            Outcome("success", 0, {**result, "invocation_id": f"r-{i}"}, "Succeeded"),
        )
    for i in range(count):
        assert client.get(f"r-{i}")["phase"] == "Succeeded"


def row(name: str, value: str) -> None:
    print(f"  {name:<44} {value}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=50, help="sequential invocations for latency")
    p.add_argument("-c", type=int, default=100, help="concurrent invocations for throughput")
    p.add_argument("--records", type=int, default=1000, help="finished records for memory")
    a = p.parse_args()

    from tests.cluster.service_helpers import free_port
    from tests.fixtures._process import stop
    from tests.fixtures.nats import start_nats

    env = BC.kind_env()
    kubeconfig = env["KUBECONFIG"]
    if gateway := env.get("TOOLPOD_KIND_GATEWAY"):
        import os

        os.environ["TOOLPOD_TEST_BROKER_HOST"] = gateway  # where runner Pods reach the NATS server
    api = api_client(kubeconfig)
    kube = Kube(api)
    ns = f"bench-svc-{uuid.uuid4().hex[:6]}"
    meta = {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}
    kube.call(
        "POST",
        "/api/v1/namespaces",
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
    )
    workdir = Path(tempfile.mkdtemp(prefix="toolpod-bench-"))
    nats_proc, nats = start_nats(workdir)
    settings = BC.local_settings(env, ns)
    server = _start_server(kubeconfig, settings, max(a.c, 50), free_port(), workdir)
    try:
        BC.setup(kube, ns, nats, 0)
        return _run(a, kube, api, settings, server, ns)
    finally:
        server[0].terminate()
        server[0].wait(15)
        stop(nats_proc)
        kube.call("DELETE", f"/api/v1/namespaces/{ns}")
        api.close()


def _start_server(kubeconfig: str, s: Settings, in_flight: int, port: int, workdir: Path) -> Any:
    import os
    import subprocess

    import httpx

    env = {
        **os.environ,
        "KUBECONFIG": kubeconfig,
        "TOOLPOD_IMAGE": s.image,
        "TOOLPOD_IMAGE_PULL_POLICY": "Never",
    }
    cmd = [sys.executable, "-m", "controller.cli", "serve", "--no-auth", "--port", str(port)]
    cmd += ["--max-in-flight", str(in_flight), "--namespace-watch", s.namespace]
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"toolpod serve did not become ready; see {workdir / 'serve.log'}")


def _run(a: Any, kube: Kube, api: Any, settings: Settings, server: Any, ns: str) -> int:
    proc, url = server
    tp = Toolpod.kubernetes(settings, client=api)
    client = Client(url, ns)
    try:
        tp.run_sync(doc("warm", 0), 300)  # both sides' watches started before measuring
        client.run(doc("warm", 1), 300)
        idle = rss_mib(proc.pid)
        direct, service, failed = latency(tp, client, a.n)
        d_wall, d_failed = burst_direct(tp, a.c)
        s_wall, s_failed = burst_service(url, ns, a.c)
        retained(kube, client, ns, a.records)
        full = rss_mib(proc.pid)
    finally:
        tp.close()
        client.close()
    failed += d_failed + s_failed
    print(
        f"\ntoolpod service benchmark: kv_put, configmap sink, {a.n} sequential, "
        f"{a.c} concurrent; failures: {failed}"
    )
    row("latency, ms", f"{'median':>8} {'p95':>8}")
    row("direct controller: submit -> result", BC.stats(direct))
    row("service (POST ?wait=): submit -> result", BC.stats(service))
    added = [s - d for d, s in zip(direct, service, strict=True)]
    row("added by the service (pairwise)", BC.stats(added))
    row(f"throughput, {a.c} at once", f"{'wall s':>8} {'inv/s':>8}")
    row("direct controller (asyncio)", f"{d_wall:8.1f} {a.c / d_wall:8.2f}")
    row("service (AsyncClient)", f"{s_wall:8.1f} {a.c / s_wall:8.2f}")
    row("service / direct throughput", f"{'':>8} {d_wall / s_wall:8.0%}")
    row("service memory, RSS MiB", f"{'idle':>8} {'after':>8}")
    row(f"idle / {a.records} finished records retained", f"{idle:8.0f} {full:8.0f}")
    print(f"  (median added latency {statistics.median(added):.0f} ms)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
