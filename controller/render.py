"""The Job as data: ``render(invocation, settings)`` returns every object one invocation needs.

    Job toolpod-<id>            created first, suspended; the only object the controller watches
    ├── Secret   <name>-spec     the invocation (it may carry connection secrets)   ─┐
    ├── ConfigMap <name>-result  empty; the runner writes result.json into it        │ owned by the
    ├── ServiceAccount <name>-runner  ┐ configmap sink only: the runner may          │ Job: GC takes
    ├── Role <name>-runner            │ get/update/patch its own result ConfigMap,   │ them with it
    └── RoleBinding <name>-runner     ┘ nothing else                                ─┘

The Job is created suspended so that its Pod is never created before the Secret and the
ServiceAccount exist (no mount retries, no admission failures); the controller then adds the
satellites with owner references to the Job's uid and resumes it. Credential Secrets are the
operator's: they are only referenced (projected read-only at ``/etc/toolpod/credentials/<alias>``),
never created or owned here. No I/O in this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from pydantic_core import to_jsonable_python

from controller import labels as L
from controller.pod import pod_spec
from controller.settings import SecretRef, Settings
from runner import contract as C
from runner.contract import FAIL_JOB_EXIT_CODES, job_name
from runner.spec.invocation import Invocation, complete_invocation_model

# this module serialises whole invocations: every tool family's models (runner/spec/invocation.py)
complete_invocation_model()


@dataclass(frozen=True)
class Rendered:
    name: str
    namespace: str
    job: dict[str, Any]
    spec_secret: dict[str, Any]
    sink: str
    result_configmap: dict[str, Any] | None = None
    rbac: tuple[dict[str, Any], ...] = ()
    credentials: dict[str, SecretRef] = field(default_factory=dict)

    def satellites(self) -> list[dict[str, Any]]:
        """What is created after the Job, owned by it (all at once, but a RoleBinding after its
        Role: ``KubernetesExecutor._finish_setup``)."""
        extra = [self.result_configmap] if self.result_configmap else []
        return [*self.rbac, self.spec_secret, *extra]


def render(invocation: Invocation, settings: Settings) -> Rendered:
    inv_id = invocation.invocation_id
    name = job_name(inv_id)
    aliases = credential_aliases(invocation, settings)
    creds = {a: settings.secret_for(a) for a in aliases}
    target = result_target(invocation, settings)
    cm_name = C.result_configmap_name(name) if target.sink == "configmap" else None
    meta = metadata(invocation, settings.namespace)
    spec_secret = _object("v1", "Secret", C.spec_secret_name(name), meta, type="Opaque")
    spec_secret["stringData"] = {C.SPEC_KEY: json.dumps(spec_document(invocation))}
    sink, sink_auth = _sink(target, cm_name)
    pod = pod_spec(name, settings, creds, sink, sink_auth, cm_name is not None)
    job = _object("batch/v1", "Job", name, meta, spec=_job_spec(invocation, settings, pod, meta))
    if settings.owner_references:  # the chart's anchor: uninstalling it removes the Job too
        job["metadata"]["ownerReferences"] = [dict(o) for o in settings.owner_references]
    # Where the result goes, on the Job itself: the controller reads it back from here.
    job["metadata"]["annotations"][C.RESULT_SINK_ANNOTATION] = sink
    if sink_auth:
        job["metadata"]["annotations"][C.RESULT_AUTH_ANNOTATION] = sink_auth
    result_cm = rbac = None
    if cm_name:
        result_cm = _object("v1", "ConfigMap", cm_name, _with_component(meta, "result"))
        result_cm["data"] = {}
        rbac = _rbac(C.runner_account_name(name), cm_name, meta)
    return Rendered(
        name=name,
        namespace=settings.namespace,
        job=job,
        spec_secret=spec_secret,
        sink=sink,
        result_configmap=result_cm,
        rbac=rbac or (),
        credentials=creds,
    )


@dataclass(frozen=True)
class ResultTarget:
    """Where the runner writes: ``sink`` configmap or nats_kv (then ``bucket`` and ``auth``)."""

    sink: str
    bucket: str | None = None
    auth: str | None = None


def result_target(invocation: Invocation, settings: Settings | None = None) -> ResultTarget:
    """The invocation's ``result`` block, else the controller's default sink (settings)."""
    if invocation.result is not None:
        r = invocation.result
        return ResultTarget(r.sink, r.bucket, r.auth or invocation.tool.auth)
    if settings is None or settings.result_sink == "configmap":
        return ResultTarget("configmap")
    auth = settings.result_auth or invocation.tool.auth
    return ResultTarget("nats_kv", settings.result_bucket, auth)


def credential_aliases(invocation: Invocation, settings: Settings | None = None) -> list[str]:
    """Every alias the runner will read: the tool's ``auth`` and the result sink's."""
    target = result_target(invocation, settings)
    found = [invocation.tool.auth, target.auth if target.sink == "nats_kv" else None]
    return sorted({a for a in found if a})


def spec_document(invocation: Invocation) -> dict[str, Any]:
    """The invocation as the runner will re-read it: the fields that were set, by their field
    names, secrets revealed (they travel in a Secret), the id always present."""
    raw = invocation.model_dump(mode="python", exclude_unset=True)
    raw["id"] = invocation.invocation_id
    return dict(to_jsonable_python(_reveal(raw)))


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    return value


def owned_by(manifest: dict[str, Any], job_name: str, job_uid: str) -> dict[str, Any]:
    """A copy of ``manifest`` owned by the Job: garbage collection deletes it with the Job."""
    ref = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "name": job_name,
        "uid": job_uid,
        "blockOwnerDeletion": False,
        "controller": False,
    }
    meta = {**manifest["metadata"], "ownerReferences": [ref]}
    return {**manifest, "metadata": meta}


# -- pieces ----------------------------------------------------------------------------------


def metadata(invocation: Invocation, namespace: str) -> dict[str, Any]:
    tool = invocation.tool
    labels = {
        L.NAME: L.APP,
        L.COMPONENT: "runner",
        L.INVOCATION: invocation.invocation_id,
        L.TOOL: tool.kind,
        L.OPERATION: tool.operation,
    }
    if tool.kind == "subscription":
        labels[L.SOURCE] = tool.source
    annotations = {
        L.EXECUTION_ID: invocation.execution_id or "",
        L.STEP: invocation.step or "",
    }
    if invocation.warnings:  # names of fields and clamps only, never values
        annotations[L.WARNINGS] = json.dumps(invocation.warnings)
    return {"namespace": namespace, "labels": labels, "annotations": annotations}


def _with_component(meta: dict[str, Any], component: str) -> dict[str, Any]:
    return {**meta, "labels": {**meta["labels"], L.COMPONENT: component}}


def _object(api: str, kind: str, name: str, meta: dict[str, Any], **body: Any) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": meta["namespace"],
        "labels": dict(meta["labels"]),
        "annotations": dict(meta["annotations"]),
    }
    return {"apiVersion": api, "kind": kind, "metadata": metadata, **body}


def _sink(target: ResultTarget, cm_name: str | None) -> tuple[str, str | None]:
    if cm_name:
        return C.sink_arg(C.SINK_CONFIGMAP, cm_name), None
    return C.sink_arg(C.SINK_NATS_KV, str(target.bucket)), target.auth


def _job_spec(
    invocation: Invocation, settings: Settings, pod: dict[str, Any], meta: dict[str, Any]
) -> dict[str, Any]:
    deadline = (
        invocation.deadline_s + settings.deadline_grace_s
        if invocation.deadline_s
        else settings.default_deadline_s
    )
    return {
        # Resumed by the controller once the spec Secret and RBAC exist (see module docstring).
        "suspend": True,
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": settings.backoff_limit,
        "activeDeadlineSeconds": deadline,
        "ttlSecondsAfterFinished": max(1, settings.ttl_after_finished_s),
        # Never two runners at once: a replacement starts only once the failed Pod is gone.
        "podReplacementPolicy": "Failed",
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": C.CONTAINER,
                        "operator": "In",
                        "values": list(FAIL_JOB_EXIT_CODES),
                    },
                },
                # Evictions and preemptions are not the runner's fault: retry, don't count.
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": {
            "metadata": {"labels": dict(meta["labels"]), "annotations": dict(meta["annotations"])},
            "spec": pod,
        },
    }


def _rbac(sa: str, cm_name: str, meta: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    account = _object("v1", "ServiceAccount", sa, meta, automountServiceAccountToken=False)
    rule = {
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": [cm_name],
        "verbs": ["get", "update", "patch"],
    }
    role = _object("rbac.authorization.k8s.io/v1", "Role", sa, meta, rules=[rule])
    binding = _object(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        sa,
        meta,
        roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
        subjects=[{"kind": "ServiceAccount", "name": sa, "namespace": meta["namespace"]}],
    )
    return (account, role, binding)
