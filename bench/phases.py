#!/usr/bin/env python3
"""Where one invocation's time goes on kind: a phase table, beside kubectl create + wait.

Runs N sequential ``kv_get`` (and ``kv_put``) invocations through the controller against a NATS
server started for the run, waits for each Job's deletion before the next, and places every
invocation's milestones on one clock (the kind node shares the host's):

    submit ─▶ Job created ─▶ Job resumed ─▶ Pod created ─▶ scheduled ─▶ sandbox ready ─▶
    container started ─▶ runner started ─▶ runner's first log line ─▶ result record written ─▶
    outcome returned ─▶ Job deleted            (and, aside: container terminated)

The API server's own timestamps (creationTimestamp, conditions' lastTransitionTime, startedAt)
have whole-second precision, too coarse for sub-second phases; so the bench watches Jobs, Pods
and result ConfigMaps itself and stamps each change when it arrives (the milliseconds a watch
event takes are part of the phase). The runner's side comes from its own clock: the record's
``started_at`` (before it reads its spec) and the ``ts`` of its first log line (fetched once
the container is seen terminated). The record is "written" when the result ConfigMap is seen
(the nats_kv sink: the record's ``finished_at``). Then the same Jobs, rendered by the
controller, are created with ``kubectl create -f`` and awaited with ``kubectl wait`` one at a
time: the baseline, in the same run. Last, the platform's floor (``bench/floor.py``): Jobs that
only print their start, minimal and in toolpod's Pod spec, timed by the same watches, and the
minimal ones with kubectl create + wait.

    e2e/kind/up && e2e/kind/exec .venv/bin/python bench/phases.py [-n 50] \
        [--ops kv_get,kv_put] [--sink configmap|nats_kv] [--floor N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import floor  # noqa: E402
from bench.controller import (  # noqa: E402
    BIG_KEY,
    Bench,
    kind_bench,
    kubectl_manifests,
    percentile,
)
from controller import labels as L  # noqa: E402
from controller.k8s import Kube  # noqa: E402
from controller.watch import Handlers, Informer  # noqa: E402
from runner import contract as C  # noqa: E402

Obj = dict[str, Any]
#: The milestones in the order of the critical path; "terminated" is printed aside.
PATH = (
    "submit",
    "job created",
    "job resumed",
    "pod created",
    "scheduled",
    "sandbox ready",
    "container started",
    "runner started",
    "runner first log line",
    "result record written",
    "outcome returned",
    "job deleted",
)
ASIDE = ("container terminated",)


def rfc3339(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


@dataclass
class Seen:
    """When each milestone of one invocation was first seen (epoch seconds)."""

    at: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str, when: float | None = None) -> None:
        self.at.setdefault(name, time.time() if when is None else when)


class Observer:
    """Its own watches on the namespace's Jobs, Pods and result ConfigMaps."""

    def __init__(self, kube: Kube, ns: str) -> None:
        self.kube, self.ns = kube, ns
        self.seen: dict[str, Seen] = {}
        self._lock = threading.Lock()
        self.informers = [
            self._informer("batch/v1", "Job", self._job),
            self._informer("v1", "Pod", self._pod),
            self._informer("v1", "ConfigMap", self._cm),
        ]
        for inf in self.informers:
            inf.start()
            inf.synced.wait(30)

    def _informer(self, api: str, kind: str, on: Any) -> Informer:
        handlers = Handlers(lambda items: [on("ADDED", o) for o in items], on)
        sel = L.ALL
        return Informer(
            f"phases-{kind}",
            self.kube.list_fn(api, kind, self.ns, sel),
            self.kube.watch_fn(api, kind, self.ns, sel),
            handlers,
        )

    def stop(self) -> None:
        for inf in self.informers:
            inf.stop.set()

    def get(self, inv: str) -> Seen:
        with self._lock:
            return self.seen.setdefault(inv, Seen())

    def of(self, obj: Obj) -> Seen | None:
        inv = ((obj.get("metadata") or {}).get("labels") or {}).get(L.INVOCATION)
        return self.get(inv) if inv else None

    def _job(self, kind: str, job: Obj) -> None:
        s = self.of(job)
        if s is None:
            return
        s.mark("job created")
        if not (job.get("spec") or {}).get("suspend"):
            s.mark("job resumed")
        for c in (job.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Complete" and c.get("status") == "True":
                s.mark("job complete")
        if kind == "DELETED":
            s.mark("job deleted")

    def _pod(self, kind: str, pod: Obj) -> None:
        s = self.of(pod)
        if s is None or kind == "DELETED":
            return
        s.mark("pod created")
        status = pod.get("status") or {}
        for c in status.get("conditions") or []:
            if c.get("status") != "True":
                continue
            if c.get("type") == "PodScheduled":
                s.mark("scheduled")
            if c.get("type") == "PodReadyToStartContainers":
                s.mark("sandbox ready")
        for cs in status.get("containerStatuses") or []:
            state = cs.get("state") or {}
            if state.get("running") or state.get("terminated"):
                s.mark("container started")
            if state.get("terminated") and "container terminated" not in s.at:
                s.mark("container terminated")
                name = pod["metadata"]["name"]
                threading.Thread(target=self._first_log, args=(s, name), daemon=True).start()

    def _first_log(self, s: Seen, pod: str) -> None:
        try:
            text = self.kube.logs(self.ns, pod, C.CONTAINER)
        except Exception:  # the Pod may be gone already: the row then has fewer samples
            return
        for line in text.splitlines():
            if line.startswith("{") and (ts := rfc3339(json.loads(line).get("ts", ""))):
                s.mark("runner first log line", ts)
                return
            if line.replace(".", "", 1).isdigit():  # a floor Job's `date +%s.%N`
                s.mark("process started", float(line))
                return

    def _cm(self, kind: str, cm: Obj) -> None:
        s = self.of(cm)
        if s is not None and kind != "DELETED" and C.RESULT_KEY in (cm.get("data") or {}):
            s.mark("result record written")


def doc(op: str, sink: str, inv: str) -> Obj:
    tool: Obj = {"kind": "nats", "auth": "nats_main", "bucket": "bench", "operation": op}
    tool.update({"key": BIG_KEY} if op == "kv_get" else {"key": inv, "value": inv})
    out: Obj = {"id": inv, "tool": tool}
    if sink == "nats_kv":
        out["result"] = {"sink": "nats_kv", "bucket": "bench_results"}
    return out


def invoke(b: Bench, tp: Any, obs: Observer, d: Obj) -> Seen:
    t0 = time.time()
    handle = tp.submit_sync(d)
    outcome = handle.result_sync(300)
    t1 = time.time()
    s = obs.get(handle.id)
    s.mark("submit", t0)
    s.mark("outcome returned", t1)
    if when := rfc3339(outcome.result.get("started_at") or ""):
        s.mark("runner started", when)
    kv_sink = (d.get("result") or {}).get("sink") == "nats_kv"  # no ConfigMap to see
    if kv_sink and (when := rfc3339(outcome.result.get("finished_at") or "")):
        s.mark("result record written", when)  # the runner's own clock
    b.failed += outcome.exit_code != 0
    deadline = time.monotonic() + 30
    while "job deleted" not in s.at and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the first log line's fetch, when the Pod outlived the outcome
    return s


def kubectl_run(b: Bench, docs: list[Obj]) -> list[float]:
    times = []
    for i, d in enumerate(docs):
        path = b.workdir / f"k-{d['id']}.json"
        path.write_text(kubectl_manifests([d], b.settings, "phases"))
        t0 = time.monotonic()
        b.kubectl("create", "-f", str(path))
        job = f"job/{C.job_name(d['id'])}"
        b.kubectl("wait", "-n", b.ns, "--for=condition=complete", "--timeout=300s", job)
        times.append((time.monotonic() - t0) * 1000)
        print(f"  kubectl {i + 1}/{len(docs)}: {times[-1]:.0f} ms", file=sys.stderr)
    b.kubectl("delete", "-n", b.ns, "jobs", "-l", "bench-run=phases", "--cascade=background")
    return times


def cell(values: list[float]) -> str:
    if not values:
        return f"{'-':>7} {'-':>7} {0:>4}"
    return f"{statistics.median(values):7.0f} {percentile(values, 95):7.0f} {len(values):>4}"


def table(op: str, runs: list[Seen], kubectl: list[float]) -> None:
    print(f"\n{op}: {len(runs)} invocations, milliseconds (median, p95, samples)")
    print(f"  {'milestone':<24} {'since submit':>20}   {'phase (since previous)':>22}")
    previous = "submit"
    for name in PATH[1:] + ASIDE:
        since = [r.at[name] - r.at["submit"] for r in runs if name in r.at]
        step = [r.at[name] - r.at[previous] for r in runs if name in r.at and previous in r.at]
        print(f"  {name:<24} {cell([v * 1000 for v in since])}   {cell([v * 1000 for v in step])}")
        previous = name if name in PATH else previous
    e2e = [(r.at["outcome returned"] - r.at["submit"]) * 1000 for r in runs]
    ratio = statistics.median(e2e) / statistics.median(kubectl)
    print(f"  {'kubectl create + wait':<24} {cell(kubectl)}")
    print(f"  submit -> outcome / kubectl create + wait (medians): {ratio:.0%}")


def run(a: Any, b: Bench) -> int:
    tp = b.toolpod()
    obs = Observer(b.kube, b.ns)
    results: dict[str, tuple[list[Seen], list[float]]] = {}
    floors: dict[str, list[Seen]] = {}
    floor_kubectl: list[float] = []
    try:
        tp.submit_sync(doc("kv_get", a.sink, "warm")).result_sync(300)  # image, watches, NATS
        for op in a.ops.split(","):
            runs = []
            for i in range(a.n):
                runs.append(invoke(b, tp, obs, doc(op, a.sink, f"{op.replace('_', '')}-{i}")))
                took = runs[-1].at["outcome returned"] - runs[-1].at["submit"]
                print(f"  {op} {i + 1}/{a.n}: {took * 1000:.0f} ms", file=sys.stderr)
            docs = [doc(op, a.sink, f"k{op.replace('_', '')}-{i}") for i in range(a.n)]
            results[op] = (runs, kubectl_run(b, docs))
        if a.floor:
            floors = floor.run(b, obs, lambda op, inv: doc(op, a.sink, inv), a.floor)
            floor_kubectl = floor.kubectl_run(b, a.floor)
    finally:
        obs.stop()
        tp.close()
    load = os.getloadavg()
    print(f"\ntoolpod phases on kind, {a.sink} sink; failures: {b.failed}; load {load[0]:.1f}")
    for op, (runs, kubectl) in results.items():
        table(op, runs, kubectl)
    if floors:
        floor.table(floors, floor_kubectl, cell)
    return 1 if b.failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=50, help="sequential invocations per operation")
    p.add_argument("--ops", default="kv_get,kv_put", help="comma-separated: kv_get, kv_put")
    p.add_argument("--sink", choices=["configmap", "nats_kv"], default="configmap")
    p.add_argument("--floor", type=int, default=-1, help="floor Jobs per shape (-n; 0: none)")
    a = p.parse_args()
    a.floor = a.n if a.floor < 0 else a.floor

    with kind_bench("bench-phases", 16) as b:
        return run(a, b)


if __name__ == "__main__":
    sys.exit(main())
