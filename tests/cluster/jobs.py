"""Runner Jobs as the kind cluster runs them: the shape docs/controller.md describes.

Kept as plain dicts (the API's JSON) so a test can read the whole manifest at a glance; the
controller renders the production version of the same thing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from runner.contract import CONTAINER as RUNNER_CONTAINER
from runner.contract import CREDENTIALS_DIR, SPEC_DIR, SPEC_KEY


def runner_secret(
    name: str, invocation: dict[str, Any], credentials: dict[str, Any]
) -> dict[str, Any]:
    """One Secret holding the invocation and every credential alias (a key per alias)."""
    data = {SPEC_KEY: json.dumps(invocation)}
    data.update({f"cred-{alias}": json.dumps(c) for alias, c in credentials.items()})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "Opaque",
        "stringData": data,
    }


def runner_job(
    name: str,
    image: str,
    secret: str,
    aliases: list[str],
    *,
    backoff_limit: int = 3,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """A one-pod runner Job: restricted security context, read-only root filesystem, spec and
    credentials mounted read-only, exit code 2 fails the Job at once (podFailurePolicy)."""
    container: dict[str, Any] = {
        "name": RUNNER_CONTAINER,
        "image": image,
        "imagePullPolicy": "Never",
        "command": command
        or [
            "toolpod-runner",
            "run",
            "--spec",
            f"{SPEC_DIR}/{SPEC_KEY}",
            "--credentials",
            CREDENTIALS_DIR,
            "--sink",
            "stdout",
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "spec", "mountPath": SPEC_DIR, "readOnly": True},
            {"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
        ],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {
                "name": "spec",
                "secret": {
                    "secretName": secret,
                    "items": [{"key": SPEC_KEY, "path": SPEC_KEY}],
                    "defaultMode": 0o444,
                },
            },
            {
                "name": "credentials",
                "projected": {
                    "defaultMode": 0o444,
                    "sources": [
                        {
                            "secret": {
                                "name": secret,
                                "items": [{"key": f"cred-{a}", "path": a} for a in aliases],
                            }
                        }
                    ],
                },
            },
        ],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": "toolpod",
                "app.kubernetes.io/component": "runner",
            },
        },
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": 180,
            "ttlSecondsAfterFinished": 600,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": RUNNER_CONTAINER,
                            "operator": "In",
                            "values": [2],
                        },
                    },
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                ]
            },
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/component": "runner"}},
                "spec": pod_spec,
            },
        },
    }


def job_finished(job: Any) -> str | None:
    """`Complete` or `Failed` once the Job has finished, else None."""
    for c in (job.status and job.status.conditions) or []:
        if c.type in ("Complete", "Failed") and c.status == "True":
            return str(c.type)
    return None


def wait_job(batch: Any, namespace: str, name: str, timeout: float = 120.0) -> Any:
    """Poll the Job until it finishes; returns it. Raises TimeoutError with its status."""
    deadline = time.monotonic() + timeout
    while True:
        job = batch.read_namespaced_job_status(name, namespace)
        if job_finished(job):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"Job {namespace}/{name} did not finish: {job.status}")
        time.sleep(0.25)
