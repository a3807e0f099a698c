"""The workload of a chaos or load run, inside the cluster as a Job (``e2e/chaos/run`` starts
it): drives toolpod's service as a worker does, with the Pod's own ServiceAccount token, and
prints one ``EVENT {json}`` line per fact the accounting needs (messages published, each
invocation's final record, the phase it is in). It never decides pass or fail: the host does.

Every call survives the faults the host injects: a refused connection, a 5xx or a 429 is
retried; a POST is retried with the same id (the service answers with that invocation's record,
so a retry never runs it twice); an invocation without a final record after ``BOUND_S`` is
reported as ``Lost``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from typing import Any

import httpx

from controller.client import FINAL, AsyncClient, ServiceError
from e2e.chaos import brokers

#: The longest any invocation may take to reach a final record, faults included (a drain's
#: deadline, a controller restart, the recovery of a Job orphaned by one).
BOUND_S = float(os.environ.get("CHAOS_BOUND_S", "420"))
RETRYABLE = (429, 500, 502, 503, 504)


def emit(ev: str, **fields: Any) -> None:
    print("EVENT " + json.dumps({"ev": ev, "t": time.time(), **fields}), flush=True)


class Service:
    """The service, through ``controller.client``, with retries for every fault."""

    def __init__(self, server: str, namespace: str) -> None:
        self.client = AsyncClient(server, namespace)

    async def _retrying(self, call: Any, deadline: float) -> dict[str, Any]:
        while True:
            try:
                return dict(await call())
            except (httpx.TransportError, ServiceError) as e:
                status = getattr(e, "status", 0)
                if (status and status not in RETRYABLE) or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(1 + random.random())

    async def run(self, inv: dict[str, Any]) -> tuple[dict[str, Any] | None, float, float]:
        """(the final record or None, submitted, finished): epoch seconds."""
        submitted, deadline = time.time(), time.monotonic() + BOUND_S
        try:
            rec = await self._retrying(lambda: self.client.submit(inv, wait=30), deadline)
            while rec["phase"] not in FINAL and time.monotonic() < deadline:
                rec = await self._retrying(lambda: self.client.get(inv["id"], wait=30), deadline)
        except (httpx.TransportError, ServiceError) as e:
            emit("error", id=inv["id"], error=str(e)[:300])
            return None, submitted, time.time()
        return (rec if rec["phase"] in FINAL else {**rec, "stuck": True}), submitted, time.time()

    async def metric(self, name: str) -> float | None:
        url = self.client.server + "/metrics"
        async with httpx.AsyncClient(timeout=10) as http:
            for line in (await http.get(url)).text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None


def record_event(inv: dict[str, Any], rec: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """The ``invocation`` event of a submitted invocation and what became of it."""
    tool = inv["tool"]
    kind = "drain" if tool["kind"] == "subscription" else tool["operation"]
    fields: dict[str, Any] = {"id": inv["id"], "kind": kind, "source": tool.get("source")}
    if rec is None or rec["phase"] not in FINAL:
        last = rec["phase"] if rec else "unknown"
        return {**fields, "phase": "Lost", "reason": f"no final record (last seen: {last})"}
    result = rec.get("result") or {}
    data = result.get("data") or {}
    return {
        **fields,
        "phase": rec["phase"],
        "exit_code": rec.get("exit_code"),
        "reason": rec.get("reason") or "",
        "acked": data.get("acked") if kind == "drain" else None,
        "messages": list(brokers.numbers(result)) if kind == "drain" else [],
        **extra,
    }


def drain(t: brokers.Targets, inv_id: str, source: str, batch: int) -> dict[str, Any]:
    tool = {"kind": "subscription", "source": source, "batch": batch, "timeout_ms": 2000}
    return {"id": inv_id, "tool": {**tool, **t.drain_fields(source)}, "deadline_s": 90}


async def run_one(svc: Service, inv: dict[str, Any], stage: str) -> dict[str, Any]:
    rec, submitted, finished = await svc.run(inv)
    ev = record_event(inv, rec, stage=stage)
    emit("invocation", submitted=submitted, finished=finished, stage=stage, **ev)
    return ev


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


async def main() -> int:
    from e2e.chaos import scenarios

    mode = os.environ["CHAOS_MODE"]
    svc = Service(os.environ["CHAOS_SERVER"], os.environ["CHAOS_NAMESPACE"])
    emit("start", mode=mode, run=os.environ["CHAOS_RUN"])
    await (scenarios.chaos(svc) if mode == "chaos" else scenarios.load(svc))
    emit("done")
    await svc.client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
