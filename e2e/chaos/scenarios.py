"""The two workloads (run inside the cluster by ``workload.py``), sized by environment:

chaos: publish ``CHAOS_MESSAGES`` numbered messages to each source; ``CHAOS_CONCURRENCY``
    workers run drains (``CHAOS_BATCH`` each, sources in turn) through the service until at
    least ``CHAOS_DRAINS`` ran and the host says its faults are done (ConfigMap
    ``chaos-control``); then each source is drained until it stays empty past the ack wait.
load: ``LOAD_TOTAL`` invocations, a fifth of them NATS drains and the rest kv_put → kv_get pairs
    on keys of their own, ``LOAD_CONCURRENCY`` at a time; each result checked; the
    controller's resident memory read from its /metrics before and after.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from e2e.chaos import brokers
from e2e.chaos.workload import Service, drain, emit, env_int, record_event

SA = Path("/var/run/secrets/kubernetes.io/serviceaccount")
Check = Callable[[dict[str, Any]], bool]


async def run_checked(
    svc: Service, inv: dict[str, Any], stage: str, check: Check | None = None
) -> dict[str, Any]:
    rec, submitted, finished = await svc.run(inv)
    ok = rec is not None and (check(rec) if check else True)
    ev = record_event(inv, rec, stage=stage, ok=ok)
    emit("invocation", submitted=submitted, finished=finished, **ev)
    return ev


async def faults_done(namespace: str) -> bool:
    """The host's signal: ConfigMap ``chaos-control`` says ``faults: done``."""
    url = f"https://kubernetes.default.svc/api/v1/namespaces/{namespace}/configmaps/chaos-control"
    headers = {"Authorization": f"Bearer {(SA / 'token').read_text().strip()}"}
    try:
        async with httpx.AsyncClient(verify=str(SA / "ca.crt"), timeout=10) as http:
            resp = await http.get(url, headers=headers)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and (resp.json().get("data") or {}).get("faults") == "done"


async def drain_until_empty(svc: Service, t: brokers.Targets, source: str, tag: str) -> None:
    """Drain ``source`` until it returned nothing for longer than the ack wait (so batches
    of killed runners had their time to come back), or 15 minutes passed."""
    last_seen, empties, k, start = time.monotonic(), 0, 0, time.monotonic()
    while time.monotonic() - start < 900:
        k += 1
        ev = await run_checked(svc, drain(t, f"{tag}-{source}-{k}", source, 100), "final")
        if ev["phase"] != "Succeeded":
            await asyncio.sleep(3)
            continue
        if ev["messages"]:
            last_seen, empties = time.monotonic(), 0
            continue
        empties += 1
        if empties >= 2 and time.monotonic() - last_seen > brokers.ACK_WAIT_S + 10:
            return
        await asyncio.sleep(2)
    emit("final-timeout", source=source)


async def chaos(svc: Service) -> None:
    run, ns = os.environ["CHAOS_RUN"], os.environ["CHAOS_NAMESPACE"]
    count, drains = env_int("CHAOS_MESSAGES", 100), env_int("CHAOS_DRAINS", 30)
    batch, workers = env_int("CHAOS_BATCH", 5), env_int("CHAOS_CONCURRENCY", 6)
    t = brokers.Targets(run)
    await brokers.setup(t, count)
    for source in brokers.SOURCES:
        emit("published", source=source, count=count)
    emit("phase", phase="chaos")
    done, taken = asyncio.Event(), iter(range(10**9))

    async def watch_control() -> None:
        while not await faults_done(ns):
            await asyncio.sleep(2)
        done.set()

    async def worker() -> None:
        while (k := next(taken)) < drains or not done.is_set():
            source = brokers.SOURCES[k % len(brokers.SOURCES)]
            await run_checked(svc, drain(t, f"d{run}-{k}", source, batch), "chaos")

    control = asyncio.create_task(watch_control())
    await asyncio.gather(*(worker() for _ in range(workers)))
    control.cancel()
    emit("phase", phase="final")
    await asyncio.gather(*(drain_until_empty(svc, t, s, f"f{run}") for s in brokers.SOURCES))


async def load(svc: Service) -> None:
    run, total = os.environ["CHAOS_RUN"], env_int("LOAD_TOTAL", 1000)
    n_drains = total // 5
    pairs, batch = (total - n_drains) // 2, 5
    t = brokers.Targets(run)
    await brokers.setup_nats(t, n_drains * batch)
    await brokers.setup_kv(f"L{run}")
    emit("published", source="nats", count=n_drains * batch)
    emit("memory", when="before", rss=await svc.metric("process_resident_memory_bytes"))
    units: list[Any] = [("kv", i) for i in range(pairs)] + [("drain", j) for j in range(n_drains)]
    random.Random(run).shuffle(units)
    gate = asyncio.Semaphore(env_int("LOAD_CONCURRENCY", 100))
    emit("phase", phase="load")

    async def one(unit: tuple[str, int]) -> None:
        async with gate:
            if unit[0] == "kv":
                await kv_pair(svc, f"L{run}", f"{run}-{unit[1]}")
            else:
                inv = drain(t, f"l{run}-{unit[1]}", "nats", batch)
                await run_checked(svc, inv, "load", _succeeded)

    await asyncio.gather(*(one(u) for u in units))
    emit("memory", when="after", rss=await svc.metric("process_resident_memory_bytes"))
    emit("phase", phase="final")
    await drain_until_empty(svc, t, "nats", f"f{run}")


async def kv_pair(svc: Service, bucket: str, key: str) -> None:
    """kv_put a value of its own, then kv_get must return exactly it."""
    value = {"key": key, "r": random.random()}
    tool = {"kind": "nats", "auth": "nats_main", "bucket": bucket, "key": key}
    put = {"id": f"p{key}", "tool": {**tool, "operation": "kv_put", "value": value}}
    await run_checked(svc, put, "load", lambda r: _data(r).get("revision", 0) >= 1)
    get = {"id": f"g{key}", "tool": {**tool, "operation": "kv_get"}}
    await run_checked(svc, get, "load", lambda r: _data(r).get("value") == value)


def _data(rec: dict[str, Any]) -> dict[str, Any]:
    return dict(((rec.get("result") or {}).get("data")) or {})


def _succeeded(rec: dict[str, Any]) -> bool:
    return bool(rec["phase"] == "Succeeded")
