"""The Job as data: every invariant of ``controller.render.render`` checked by field path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.render import render, spec_document
from controller.settings import SecretRef, Settings
from runner.spec.invocation import parse_invocation

KV_GET = {
    "id": "inv-1",
    "execution_id": 12345678901234567890,
    "step": "load",
    "tool": {"kind": "nats", "operation": "kv_get", "auth": "nats_main", "bucket": "b", "key": "k"},
}
DRAIN = {
    "id": "drain-1",
    "tool": {
        "kind": "subscription",
        "source": "kafka",
        "brokers": "127.0.0.1:9092",
        "topic": "t",
        "group": "g",
        "batch": 5000,
    },
    "deadline_s": 20,
}
KV_RESULT = {**KV_GET, "id": "inv-2", "result": {"sink": "nats_kv", "bucket": "results", "auth": "results_nats"}}


def at(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def rendered(doc: dict[str, Any], **settings: Any) -> Any:
    return render(parse_invocation(doc), Settings(namespace="ns", **settings))


def container(r: Any) -> dict[str, Any]:
    [c] = at(r.job, "spec.template.spec.containers")
    return dict(c)


def env(r: Any) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(r)["env"]}


# -- identity -----------------------------------------------------------------------------


def test_names_labels_and_annotations() -> None:
    r = rendered(KV_GET)
    assert r.name == "toolpod-inv-1"
    assert at(r.job, "metadata.name") == "toolpod-inv-1"
    assert at(r.job, "metadata.namespace") == "ns"
    labels = at(r.job, "metadata.labels")
    assert labels == {
        "app.kubernetes.io/name": "toolpod",
        "app.kubernetes.io/component": "runner",
        "toolpod.dev/invocation": "inv-1",
        "toolpod.dev/tool": "nats",
        "toolpod.dev/operation": "kv_get",
    }
    assert at(r.job, "spec.template.metadata.labels") == labels  # Pods are watched by label
    notes = at(r.job, "metadata.annotations")
    assert notes == {
        "toolpod.dev/execution-id": "12345678901234567890",
        "toolpod.dev/step": "load",
        # where the result goes, read back from here by the controller (not from the env)
        "toolpod.dev/result-sink": "configmap:toolpod-inv-1-result",
    }


def test_a_drain_is_labelled_with_its_source() -> None:
    assert at(rendered(DRAIN).job, "metadata.labels")["toolpod.dev/source"] == "kafka"


# -- the Job's lifecycle --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("spec.suspend", True),
        ("spec.completions", 1),
        ("spec.parallelism", 1),
        ("spec.backoffLimit", 2),
        ("spec.podReplacementPolicy", "Failed"),
        ("spec.template.spec.restartPolicy", "Never"),
        ("spec.template.spec.terminationGracePeriodSeconds", 5),
        ("spec.activeDeadlineSeconds", 600),
        ("spec.ttlSecondsAfterFinished", 300),
        ("spec.podFailurePolicy.rules.0.action", "FailJob"),
        ("spec.podFailurePolicy.rules.0.onExitCodes.containerName", "runner"),
        ("spec.podFailurePolicy.rules.0.onExitCodes.operator", "In"),
        ("spec.podFailurePolicy.rules.0.onExitCodes.values", [2, 4]),
        ("spec.podFailurePolicy.rules.1.action", "Ignore"),
        ("spec.podFailurePolicy.rules.1.onPodConditions.0.type", "DisruptionTarget"),
    ],
)
def test_job_lifecycle(path: str, expected: Any) -> None:
    assert at(rendered(KV_GET).job, path) == expected


def test_deadline_comes_from_the_invocation_plus_grace() -> None:
    assert at(rendered(DRAIN).job, "spec.activeDeadlineSeconds") == 20 + 30
    assert at(rendered(DRAIN, deadline_grace_s=0).job, "spec.activeDeadlineSeconds") == 20


def test_ttl_is_never_zero() -> None:
    assert at(rendered(KV_GET, ttl_after_finished_s=0).job, "spec.ttlSecondsAfterFinished") == 1


# -- security -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("runAsNonRoot", True),
        ("runAsUser", 65532),
        ("runAsGroup", 65532),
        ("seccompProfile.type", "RuntimeDefault"),
    ],
)
def test_pod_security_context(path: str, expected: Any) -> None:
    assert at(rendered(KV_GET).job, f"spec.template.spec.securityContext.{path}") == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("allowPrivilegeEscalation", False),
        ("readOnlyRootFilesystem", True),
        ("runAsNonRoot", True),
        ("capabilities.drop", ["ALL"]),
        ("seccompProfile.type", "RuntimeDefault"),
    ],
)
def test_container_security_context(path: str, expected: Any) -> None:
    assert at(container(rendered(KV_GET)), f"securityContext.{path}") == expected


def test_resources_from_settings() -> None:
    r = rendered(KV_GET, limits={"memory": "32Mi", "cpu": "1"}, requests={"memory": "16Mi"})
    assert container(r)["resources"] == {
        "requests": {"memory": "16Mi"},
        "limits": {"memory": "32Mi", "cpu": "1"},
    }


def test_never_the_host_network() -> None:
    assert "hostNetwork" not in at(rendered(KV_GET).job, "spec.template.spec")


def test_no_token_without_the_configmap_sink() -> None:
    r = rendered(KV_RESULT)
    pod = at(r.job, "spec.template.spec")
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod
    assert r.rbac == ()
    assert r.result_configmap is None


def test_configmap_sink_gets_its_own_account_limited_to_its_result() -> None:
    r = rendered(KV_GET)
    pod = at(r.job, "spec.template.spec")
    assert pod["automountServiceAccountToken"] is True
    assert pod["serviceAccountName"] == "toolpod-inv-1-runner"
    account, role, binding = r.rbac
    assert (account["kind"], account["metadata"]["name"]) == ("ServiceAccount", "toolpod-inv-1-runner")
    assert account["automountServiceAccountToken"] is False
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["toolpod-inv-1-result"],
            "verbs": ["get", "update", "patch"],
        }
    ]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "toolpod-inv-1-runner"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "toolpod-inv-1-runner", "namespace": "ns"}]
    assert r.result_configmap is not None
    assert at(r.result_configmap, "metadata.name") == "toolpod-inv-1-result"
    assert at(r.result_configmap, "metadata.labels")["app.kubernetes.io/component"] == "result"
    assert r.result_configmap["data"] == {}


# -- spec, credentials, env -----------------------------------------------------------------


def test_spec_secret_is_mounted_read_only_and_round_trips() -> None:
    r = rendered(KV_GET)
    assert at(r.spec_secret, "metadata.name") == "toolpod-inv-1-spec"
    assert r.spec_secret["type"] == "Opaque"
    doc = json.loads(r.spec_secret["stringData"]["invocation.json"])
    again = parse_invocation(doc)
    assert again.invocation_id == "inv-1"
    assert again.model_dump() == parse_invocation(KV_GET).model_dump()
    vol = {v["name"]: v for v in at(r.job, "spec.template.spec.volumes")}["spec"]
    assert vol["secret"]["secretName"] == "toolpod-inv-1-spec"
    assert vol["secret"]["items"] == [{"key": "invocation.json", "path": "invocation.json"}]
    mounts = {m["name"]: m for m in container(r)["volumeMounts"]}
    assert mounts["spec"] == {"name": "spec", "mountPath": "/etc/toolpod/spec", "readOnly": True}


def test_secrets_in_the_tool_block_travel_only_in_the_spec_secret() -> None:
    doc = {"id": "s", "tool": {"kind": "nats", "operation": "kv_get", "url": "nats://h:4222",
                               "user": "u", "password": "pw-secret", "bucket": "b", "key": "k"}}
    r = rendered(doc)
    assert json.loads(r.spec_secret["stringData"]["invocation.json"])["tool"]["password"] == "pw-secret"
    for obj in (r.job, *r.rbac, r.result_configmap):
        assert "pw-secret" not in json.dumps(obj)


def test_credentials_are_a_projected_volume_of_secrets_one_per_alias() -> None:
    refs = {"results_nats": SecretRef("shared-nats", "json")}
    r = rendered(KV_RESULT, credential_secrets=refs)
    vol = {v["name"]: v for v in at(r.job, "spec.template.spec.volumes")}["credentials"]
    assert vol["projected"]["sources"] == [
        {"secret": {"name": "toolpod-cred-nats-main", "items": [{"key": "credential", "path": "nats_main"}]}},
        {"secret": {"name": "shared-nats", "items": [{"key": "json", "path": "results_nats"}]}},
    ]
    mounts = {m["name"]: m for m in container(r)["volumeMounts"]}
    assert mounts["credentials"] == {"name": "credentials", "mountPath": "/etc/toolpod/credentials", "readOnly": True}
    assert set(r.credentials) == {"nats_main", "results_nats"}


def test_no_credentials_volume_without_aliases() -> None:
    names = [v["name"] for v in at(rendered(DRAIN).job, "spec.template.spec.volumes")]
    assert "credentials" not in names
    assert rendered(DRAIN).credentials == {}


def test_runner_env() -> None:
    e = env(rendered(KV_GET, extra_env={"KUBERNETES_SERVICE_HOST": "127.0.0.1"}))
    assert e["TOOLPOD_SPEC"] == "/etc/toolpod/spec/invocation.json"
    assert e["TOOLPOD_CREDENTIALS"] == "/etc/toolpod/credentials"
    assert e["TOOLPOD_SINK"] == "configmap:toolpod-inv-1-result"
    assert e["TOOLPOD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert e["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    kv = env(rendered(KV_RESULT))
    assert kv["TOOLPOD_SINK"] == "nats-kv:results"
    assert kv["TOOLPOD_SINK_AUTH"] == "results_nats"


def test_image_and_command() -> None:
    c = container(rendered(KV_GET, image="img:1", image_pull_policy="Never"))
    assert (c["name"], c["image"], c["imagePullPolicy"]) == ("runner", "img:1", "Never")
    assert c["command"] == ["toolpod-runner", "run"]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_satellites_are_created_after_the_job_in_dependency_order() -> None:
    kinds = [m["kind"] for m in rendered(KV_GET).satellites()]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap"]


def test_spec_document_keeps_clamped_values_and_the_id() -> None:
    doc = spec_document(parse_invocation(DRAIN))
    assert doc["id"] == "drain-1"
    assert doc["tool"]["batch"] == 1000


def test_validation_warnings_travel_as_an_annotation() -> None:
    notes = at(rendered(DRAIN).job, "metadata.annotations")
    assert json.loads(notes["toolpod.dev/warnings"]) == ["batch 5000 clamped to 1000 (allowed 1..1000)"]
    assert "toolpod.dev/warnings" not in at(rendered(KV_GET).job, "metadata.annotations")
