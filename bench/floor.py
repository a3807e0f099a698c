"""The platform's floor, in the same run as toolpod's phases (``bench/phases.py``).

A Job whose container prints its own start time and exits, in two shapes:

    minimal   one container, no volumes, no service-account token: what any Job costs here
    toolpod   toolpod's rendered Pod (spec Secret, credentials, /tmp, the ConfigMap sink's
              token, security context, resources), its satellites created beforehand
    no vols   the same Pod without its volumes and token: what they cost (the kubelet starts
              a Pod with volumes only once it sees them mounted, and looks every 300 ms)

Each is created with the API (satellites first for ``toolpod``, untimed) and timed from the
create call by the same watches as the invocations (``phases.Observer``): Pod created,
scheduled, the container's process started (the ``date`` it prints, on the node's clock, which
is the host's), the container's termination reported, the Job's ``Complete`` condition seen.
The minimal Jobs are also created and awaited with ``kubectl create`` + ``kubectl wait``: the
kubectl baseline of a Job that does nothing. The difference between the two shapes is the cost
of toolpod's Pod spec; what is left above ``toolpod`` in the invocation is the controller's
sequence and the runner's own work.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from typing import Any

from controller import labels as L
from controller.render import render
from runner.spec.invocation import parse_invocation

Obj = dict[str, Any]
#: Prints the process's start on the node's clock (seconds since the epoch) and exits.
COMMAND = ["date", "+%s.%N"]
#: What the floor's Jobs carry so that the bench's watches see them but toolpod's do not.
COMPONENT = "floor"
SHAPES = ("minimal", "toolpod", "no vols")


def labels(inv: str) -> dict[str, str]:
    return {L.NAME: L.APP, L.COMPONENT: COMPONENT, L.INVOCATION: inv}


def minimal_job(ns: str, inv: str, image: str) -> Obj:
    """A Job the restricted Pod Security level admits, with nothing more than that."""
    security = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "name": "runner",
        "image": image,
        "imagePullPolicy": "Never",
        "command": COMMAND,
        "securityContext": security,
    }
    pod = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
    }
    meta = {"name": f"toolpod-{inv}", "namespace": ns, "labels": labels(inv)}
    template = {"metadata": {"labels": labels(inv)}, "spec": pod}
    spec = {"backoffLimit": 0, "ttlSecondsAfterFinished": 60, "template": template}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def toolpod_job(invocation: Obj, settings: Any, volumes: bool = True) -> tuple[Obj, list[Obj]]:
    """The controller's rendering of ``invocation``, unsuspended, with ``COMMAND`` instead of
    the runner (and without volumes and token unless ``volumes``): (Job, its satellites)."""
    r = render(parse_invocation(invocation), settings)
    job = copy.deepcopy(r.job)
    inv = invocation["id"]
    job["spec"]["suspend"] = False
    job["metadata"]["labels"] = {**job["metadata"]["labels"], **labels(inv)}
    job["spec"]["template"]["metadata"]["labels"] = dict(job["metadata"]["labels"])
    pod = job["spec"]["template"]["spec"]
    pod["containers"][0]["command"] = COMMAND
    if not volumes:
        pod.pop("volumes")
        pod.pop("serviceAccountName", None)
        pod["automountServiceAccountToken"] = False
        pod["containers"][0].pop("volumeMounts")
    return job, r.satellites()


def run_one(kube: Any, obs: Any, job: Obj, satellites: list[Obj]) -> Any:
    """Create the satellites, then time the Job from its create call until it is complete and
    then deleted (the next one starts on a quiet namespace)."""
    for m in satellites:
        kube.create(m)
    t0 = time.time()
    created = kube.create(job)
    s = obs.get(job["metadata"]["labels"][L.INVOCATION])
    s.mark("submit", t0)
    deadline = time.monotonic() + 120
    while "job complete" not in s.at and time.monotonic() < deadline:
        time.sleep(0.005)
    meta = created["metadata"]
    kube.delete("batch/v1", "Job", meta["namespace"], meta["name"])
    for m in satellites:
        kube.delete(m["apiVersion"], m["kind"], meta["namespace"], m["metadata"]["name"])
    while "job deleted" not in s.at and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the process's start line, fetched once the container is terminated
    return s


def run(b: Any, obs: Any, doc: Any, n: int) -> dict[str, list[Any]]:
    """``n`` Jobs of each shape, one at a time; then the minimal ones with kubectl."""
    out: dict[str, list[Any]] = {shape: [] for shape in SHAPES}
    for i in range(n):
        out["minimal"].append(run_one(b.kube, obs, minimal_job(b.ns, f"fmin-{i}", image(b)), []))
        job, sats = toolpod_job(doc("kv_get", f"ftp-{i}"), b.settings)
        out["toolpod"].append(run_one(b.kube, obs, job, sats))
        job, sats = toolpod_job(doc("kv_get", f"fnv-{i}"), b.settings, volumes=False)
        out["no vols"].append(run_one(b.kube, obs, job, sats))
        print(f"  floor {i + 1}/{n}", file=sys.stderr)
    return out


def image(b: Any) -> str:
    return str(b.settings.image)


def kubectl_run(b: Any, n: int) -> list[float]:
    """``kubectl create -f`` + ``kubectl wait`` of minimal Jobs, one at a time."""
    times = []
    for i in range(n):
        job = minimal_job(b.ns, f"kfmin-{i}", image(b))
        job["metadata"]["labels"]["bench-run"] = "floor"
        path = b.workdir / f"floor-{i}.json"
        path.write_text(json.dumps(job))
        t0 = time.monotonic()
        b.kubectl("create", "-f", str(path))
        name = f"job/{job['metadata']['name']}"
        b.kubectl("wait", "-n", b.ns, "--for=condition=complete", "--timeout=300s", name)
        times.append((time.monotonic() - t0) * 1000)
    b.kubectl("delete", "-n", b.ns, "jobs", "-l", "bench-run=floor", "--cascade=background")
    return times


#: The floor's milestones, since the Job's create call.
MILESTONES = ("pod created", "scheduled", "process started", "container terminated", "job complete")


def table(runs: dict[str, list[Any]], kubectl: list[float], cell: Any) -> None:
    n = len(runs["minimal"])
    print(f"\nfloor: {n} Jobs per shape printing their start, ms since create (median, p95, n)")
    print(f"  {'milestone':<24}" + "   ".join(f"{shape:>20}" for shape in SHAPES))
    for name in MILESTONES:
        cols = [
            cell([(r.at[name] - r.at["submit"]) * 1000 for r in runs[shape] if name in r.at])
            for shape in SHAPES
        ]
        print(f"  {name:<24}" + "   ".join(cols))
    print(f"  {'kubectl create + wait':<24}{cell(kubectl)}")
