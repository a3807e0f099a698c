"""The host's side of a chaos or load run (``e2e/chaos/run`` calls it inside the cluster's
network namespace, with KUBECONFIG set, once the run's brokers and release are up): starts the
workload Job, injects the faults while it drains (chaos) or watches the Jobs it causes (load),
then accounts and prints the report. Exit 0 only when the report's verdict is PASS.

    python -m e2e.chaos.driver --suite chaos --namespace NS --server URL --seed N --size small
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections import deque
from typing import Any

from e2e.chaos import accounting as acc
from e2e.chaos.faults import FaultPlan, Injector, schedule
from e2e.chaos.jobwatch import JobCeiling
from e2e.chaos.report import Run, invocation, render
from e2e.chaos.sizes import SIZES, Size

TARGET_WAIT_S = 180
#: Make-up tries per fault kind after the schedule (each up to TARGET_WAIT_S): a bound, so a
#: cluster that cannot host a target (a broker's new Pod never scheduled) ends the run.
MAX_MAKEUPS = 10


def say(msg: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def kubectl(ns: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = ["kubectl", "-n", ns, *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)


class Workload:
    """The workload Job of one suite and the events its log carries."""

    def __init__(self, ns: str, suite: str, env: dict[str, str], image: str) -> None:
        self.ns, self.name = ns, f"chaos-{suite}"
        self.events: list[dict[str, Any]] = []
        self.env, self.image = env, image

    def start(self) -> None:
        kubectl(self.ns, "delete", "job", self.name, "--ignore-not-found", "--wait=true")
        out = kubectl(self.ns, "apply", "-f", "-", stdin=json.dumps(job_manifest(self)))
        if out.returncode != 0:
            raise SystemExit(f"the workload Job was refused: {out.stderr.strip()}")
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        """Live events (to know the phase); the accounting re-reads the whole log at the end."""
        while not self.finished():
            proc = subprocess.Popen(
                ["kubectl", "-n", self.ns, "logs", "-f", f"job/{self.name}"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            assert proc.stdout is not None
            seen = 0
            for line in proc.stdout:
                if line.startswith("EVENT "):
                    seen += 1
                    if seen > len(self.events):
                        self.events.append(json.loads(line[6:]))
            proc.wait()
            time.sleep(1)

    def phase(self) -> str:
        phases = [e["phase"] for e in self.events if e["ev"] == "phase"]
        return "done" if self.seen("done") else (phases[-1] if phases else "setup")

    def seen(self, ev: str) -> bool:
        return any(e["ev"] == ev for e in self.events)

    def finished(self) -> bool:
        out = kubectl(self.ns, "get", "job", self.name, "-o", "jsonpath={.status.conditions}")
        return '"Complete"' in out.stdout or '"Failed"' in out.stdout

    def all_events(self) -> list[dict[str, Any]]:
        out = kubectl(self.ns, "logs", f"job/{self.name}", "--tail=-1")
        lines = out.stdout.splitlines()
        for line in lines:
            if not line.startswith("EVENT "):
                print(f"  workload: {line}", file=sys.stderr)
        return [json.loads(x[6:]) for x in lines if x.startswith("EVENT ")]


def job_manifest(w: Workload) -> dict[str, Any]:
    files = ["__init__.py", "brokers.py", "workload.py", "scenarios.py"]
    env = [{"name": k, "value": v} for k, v in w.env.items()]
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    container = {
        "name": "workload",
        "image": w.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/opt/toolpod/bin/python", "-m", "e2e.chaos.workload"],
        "env": [*env, {"name": "PYTHONPATH", "value": "/chaos"},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
        "securityContext": restricted,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
        "volumeMounts": [{"name": "code", "mountPath": "/chaos/e2e/chaos", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }  # fmt: skip
    pod = {
        "restartPolicy": "Never",
        "serviceAccountName": "chaos-workload",
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
        "volumes": [
            {"name": "code", "configMap": {"name": "chaos-workload",
                                           "items": [{"key": f, "path": f} for f in files]}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }  # fmt: skip
    meta = {"name": w.name, "labels": {"app.kubernetes.io/name": "toolpod-chaos"}}
    spec = {"backoffLimit": 0, "activeDeadlineSeconds": 5400, "template": {"spec": pod}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def wait_for(cond: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(1)


def inject_all(ns: str, rng: random.Random, size: Size, run: Run) -> FaultPlan:
    """Every scheduled fault, one every ``fault_interval_s`` (jittered). A try waits up to
    ``TARGET_WAIT_S`` for a target (no runner running while a new controller starts, a broker's
    new Pod not scheduled yet), then counts as skipped; the plan then makes up every kind still
    short, up to ``MAX_MAKEUPS`` tries per kind."""
    injector = Injector(ns, rng)
    plan = FaultPlan(deque(schedule(rng, size.faults_per_kind)), size.faults_per_kind, MAX_MAKEUPS)
    n = 0
    while (kind := plan.next()) is not None:
        n += 1
        time.sleep(size.fault_interval_s * rng.uniform(0.5, 1.5))
        deadline = time.monotonic() + TARGET_WAIT_S
        while (fault := injector.inject(kind)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        plan.record(kind, fault is not None)
        if fault is None:
            run.skipped.append(kind)
            say(f"fault {n} {kind}: no target within {TARGET_WAIT_S} s ({plan.summary(kind)})")
            continue
        run.faults.append(fault)
        say(f"fault {n} {kind}: {fault.target}")
    for kind in acc.FAULT_KINDS:
        if plan.short(kind):
            say(f"gave up on {kind}: {plan.summary(kind)}")
    return plan


def collect(run: Run, events: list[dict[str, Any]]) -> None:
    for e in events:
        if e["ev"] == "invocation":
            run.invocations.append(invocation(e))
        elif e["ev"] == "published":
            run.published[e["source"]] = run.published.get(e["source"], 0) + e["count"]
        elif e["ev"] == "memory" and e.get("rss") is not None:
            run.extra[f"controller RSS {e['when']}, MiB"] = f"{e['rss'] / 2**20:.0f}"
        elif e["ev"] in ("error", "final-timeout"):
            say(f"workload: {e}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="e2e/chaos/driver")
    p.add_argument("--suite", choices=("chaos", "load"), required=True)
    p.add_argument("--namespace", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--image", default="toolpod-controller:dev")
    a = p.parse_args(argv)
    size, rng = SIZES[a.size], random.Random(a.seed)
    run = Run(a.suite, a.seed)
    env = {"CHAOS_MODE": a.suite, "CHAOS_RUN": f"{a.seed}{a.suite[0]}", "CHAOS_SERVER": a.server,
           "CHAOS_NAMESPACE": a.namespace, **size.workload_env()}  # fmt: skip
    if a.suite == "load":
        env["CHAOS_BOUND_S"] = str(size.load_bound_s)
    ceiling = JobCeiling(a.namespace).start() if a.suite == "load" else None
    work = Workload(a.namespace, a.suite, env, a.image)
    started = time.monotonic()
    work.start()
    say(f"{a.suite} workload started (seed {a.seed}, size {a.size}, namespace {a.namespace})")
    plan = None
    if a.suite == "chaos":
        wait_for(lambda: work.phase() != "setup" or work.finished(), "the chaos phase", 900)
        plan = inject_all(a.namespace, rng, size, run)
        kubectl(a.namespace, "create", "configmap", "chaos-control", "--from-literal=faults=done")
        say("faults done; the workload drains every source until it stays empty")
    wait_for(work.finished, "the workload Job", 5400)
    events = work.all_events()
    collect(run, events)
    run.extra["wall time, s"] = f"{time.monotonic() - started:.0f}"
    run.checks["the workload ran to its end"] = any(e["ev"] == "done" for e in events)
    if ceiling is not None:
        most = ceiling.close()
        run.extra["most toolpod Jobs at once (API server watch)"] = (
            f"{most} (cap {size.max_in_flight})"
        )
        run.checks[f"never more than {size.max_in_flight} Jobs"] = most <= size.max_in_flight
        if most > size.max_in_flight:
            run.extra["the Jobs at that moment"] = " ".join(ceiling.peak)
    if plan is not None:
        for kind in acc.FAULT_KINDS:
            run.checks[f"{kind}: {plan.summary(kind)}"] = not plan.short(kind)
    text, ok = render(run)
    print(text, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
