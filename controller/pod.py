"""The runner Pod of an invocation's Job, as data: security context, mounts, env.

PSS ``restricted`` (non-root uid 65532, no privilege escalation, all capabilities dropped,
seccomp RuntimeDefault) plus a read-only root filesystem. The spec Secret and one Secret per
credential alias are mounted read-only where the runner looks by default (docs/reference.md §7);
only literal, non-secret env. A service-account token only for the ConfigMap sink.
"""

from __future__ import annotations

from typing import Any

from controller.settings import SecretRef, Settings
from runner import contract as C

RUNNER_UID = 65532


def pod_spec(
    name: str,
    settings: Settings,
    creds: dict[str, SecretRef],
    sink: str,
    sink_auth: str | None,
    writes_configmap: bool,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": settings.termination_grace_s,
        # A token only where the runner must write its result ConfigMap.
        "automountServiceAccountToken": writes_configmap,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "runAsGroup": RUNNER_UID,
            "fsGroup": RUNNER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(settings, creds, sink, sink_auth, writes_configmap)],
        "volumes": _volumes(name, creds),
    }
    if writes_configmap:
        pod["serviceAccountName"] = C.runner_account_name(name)
    return pod


def _container(
    settings: Settings,
    creds: dict[str, SecretRef],
    sink: str,
    sink_auth: str | None,
    writes_configmap: bool,
) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": C.ENV_SPEC, "value": f"{C.SPEC_DIR}/{C.SPEC_KEY}"},
        {"name": C.ENV_CREDENTIALS, "value": C.CREDENTIALS_DIR},
        {"name": C.ENV_SINK, "value": sink},
    ]
    if sink_auth:
        env.append({"name": C.ENV_SINK_AUTH, "value": sink_auth})
    if writes_configmap:
        ns_ref = {"fieldRef": {"fieldPath": "metadata.namespace"}}
        env.append({"name": C.ENV_NAMESPACE, "valueFrom": ns_ref})
    env += [{"name": k, "value": v} for k, v in sorted(settings.extra_env.items())]
    mounts = [{"name": "spec", "mountPath": C.SPEC_DIR, "readOnly": True}]
    if creds:
        mounts.append({"name": "credentials", "mountPath": C.CREDENTIALS_DIR, "readOnly": True})
    mounts.append({"name": "tmp", "mountPath": "/tmp"})
    return {
        "name": C.CONTAINER,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(settings.runner_command),
        "env": env,
        "resources": {"requests": dict(settings.requests), "limits": dict(settings.limits)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # The runner writes its ToolResult there; a crash leaves the last log lines instead.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": mounts,
    }


def _volumes(name: str, creds: dict[str, SecretRef]) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {
            "name": "spec",
            "secret": {
                "secretName": C.spec_secret_name(name),
                "items": [{"key": C.SPEC_KEY, "path": C.SPEC_KEY}],
                "defaultMode": 0o440,
            },
        }
    ]
    if creds:
        sources = [
            {"secret": {"name": ref.name, "items": [{"key": ref.key, "path": alias}]}}
            for alias, ref in sorted(creds.items())
        ]
        projected = {"defaultMode": 0o440, "sources": sources}
        volumes.append({"name": "credentials", "projected": projected})
    volumes.append({"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}})
    return volumes
