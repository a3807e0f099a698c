#!/usr/bin/env python3
"""Create→complete latency of one-pod Jobs on a running cluster (the kind one by default).

Creates N Jobs one after another in a fresh namespace, each running one short command in the
runner image with the shape toolpod's runner Jobs have (restricted security context, read-only
root filesystem, restartPolicy Never, pod network), and times each from the create call to the
moment a watch sees its `Complete` condition. Prints a table (median, p95, ...).

    e2e/kind/up && e2e/kind/exec .venv/bin/python bench/job_latency.py [-n 20] \
        [--command toolpod-runner --help]

The kubeconfig comes from --kubeconfig, else $KUBECONFIG (e2e/kind/exec sets it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from typing import Any


def job_manifest(name: str, image: str, command: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "toolpod-bench"}},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 60,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "runner",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": command,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"cpu": "1", "memory": "256Mi"},
                            },
                        }
                    ],
                }
            },
        },
    }


def wait_complete(batch: Any, namespace: str, name: str, rv: str, timeout: float) -> str:
    """Block on a watch until the Job finishes; returns `Complete` or `Failed`."""
    from kubernetes import watch

    w = watch.Watch()
    try:
        for ev in w.stream(
            batch.list_namespaced_job,
            namespace,
            field_selector=f"metadata.name={name}",
            resource_version=rv,
            timeout_seconds=int(timeout),
        ):
            for c in ev["object"].status.conditions or []:
                if c.type in ("Complete", "Failed") and c.status == "True":
                    return str(c.type)
    finally:
        w.stop()
    raise TimeoutError(f"Job {name} did not finish within {timeout}s")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=20, help="number of Jobs (default 20)")
    p.add_argument("--image", default=os.environ.get("TOOLPOD_RUNNER_IMAGE", "toolpod-runner:dev"))
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    p.add_argument("--timeout", type=float, default=120.0, help="per-Job timeout, seconds")
    p.add_argument(
        "--command",
        nargs=argparse.REMAINDER,
        default=["/bin/true"],
        help="the container's command (default /bin/true: pure platform latency)",
    )
    a = p.parse_args()

    from kubernetes import client, config

    api = config.new_client_from_config(config_file=a.kubeconfig)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=ns, labels={"pod-security.kubernetes.io/enforce": "restricted"}
            )
        )
    )
    latencies: list[float] = []
    failed = 0
    try:
        for i in range(a.n):
            name = f"lat-{i}"
            t0 = time.monotonic()
            created = batch.create_namespaced_job(ns, job_manifest(name, a.image, a.command))
            outcome = wait_complete(batch, ns, name, created.metadata.resource_version, a.timeout)
            elapsed = time.monotonic() - t0
            if outcome != "Complete":
                failed += 1
            latencies.append(elapsed)
            print(f"  job {i + 1:>3}/{a.n}: {outcome:<8} {elapsed:6.2f}s", file=sys.stderr)
    finally:
        core.delete_namespace(ns, propagation_policy="Background")
        api.close()

    rows = [
        ("jobs", f"{len(latencies)} ({failed} failed)"),
        ("command", " ".join(a.command)),
        ("median", f"{statistics.median(latencies):.2f} s"),
        ("p95", f"{percentile(latencies, 95):.2f} s"),
        ("mean", f"{statistics.fmean(latencies):.2f} s"),
        ("min", f"{min(latencies):.2f} s"),
        ("max", f"{max(latencies):.2f} s"),
    ]
    print("Job create→complete latency (one pod, sequential)")
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
