"""The controller's settings from TOOLPOD_* variables (what the chart passes): each one read,
each bad value refused with the variable's name, and the default result sink rendered."""

from __future__ import annotations

import pytest

from controller.render import render
from controller.settings import from_env
from runner.errors import ConfigurationError
from runner.spec.invocation import parse_invocation

KV_GET = {"id": "i-1", "tool": {"kind": "nats", "operation": "kv_get", "auth": "nats_main", "bucket": "b", "key": "k"}}


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"TOOLPOD_BACKOFF_LIMIT": "1"}, "backoff_limit", 1),
        ({"TOOLPOD_DEFAULT_DEADLINE_S": "120"}, "default_deadline_s", 120),
        ({"TOOLPOD_DEADLINE_GRACE_S": "0"}, "deadline_grace_s", 0),
        ({"TOOLPOD_TTL_AFTER_FINISHED_S": "60"}, "ttl_after_finished_s", 60),
        ({"TOOLPOD_TERMINATION_GRACE_S": "9"}, "termination_grace_s", 9),
        ({"TOOLPOD_RESULT_SINK": "configmap"}, "result_sink", "configmap"),
        ({"TOOLPOD_RESULT_SINK": "nats_kv", "TOOLPOD_RESULT_BUCKET": "r"}, "result_bucket", "r"),
        ({"TOOLPOD_RUNNER_RESOURCES": '{"requests": {"cpu": "10m"}, "limits": {"memory": 300}}'}, "limits", {"memory": "300"}),
        ({"TOOLPOD_RUNNER_RESOURCES": '{"requests": {"cpu": "10m"}}'}, "requests", {"cpu": "10m"}),
    ],
)
def test_each_variable_sets_its_setting(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(from_env(env), field) == value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOOLPOD_BACKOFF_LIMIT": "x"}, "TOOLPOD_BACKOFF_LIMIT must be an integer 0..10 (got 'x')"),
        ({"TOOLPOD_BACKOFF_LIMIT": "11"}, "TOOLPOD_BACKOFF_LIMIT must be an integer 0..10 (got '11')"),
        ({"TOOLPOD_TTL_AFTER_FINISHED_S": "0"}, "TOOLPOD_TTL_AFTER_FINISHED_S must be an integer 1..2592000 (got '0')"),
        ({"TOOLPOD_DEFAULT_DEADLINE_S": "-5"}, "TOOLPOD_DEFAULT_DEADLINE_S must be an integer 1..86400 (got '-5')"),
        ({"TOOLPOD_RESULT_SINK": "s3"}, "TOOLPOD_RESULT_SINK must be one of configmap, nats_kv"),
        ({"TOOLPOD_RESULT_SINK": "nats_kv"}, "TOOLPOD_RESULT_SINK nats_kv needs TOOLPOD_RESULT_BUCKET"),
        ({"TOOLPOD_RUNNER_RESOURCES": "{"}, "TOOLPOD_RUNNER_RESOURCES is not valid JSON"),
        ({"TOOLPOD_RUNNER_RESOURCES": '{"cpu": "1"}'}, 'TOOLPOD_RUNNER_RESOURCES must be {"requests": {"cpu": "50m", ...}, "limits": {...}}'),
        ({"TOOLPOD_RUNNER_RESOURCES": '{"limits": {"cpu": [1]}}'}, 'TOOLPOD_RUNNER_RESOURCES must be {"requests": {"cpu": "50m", ...}, "limits": {...}}'),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as e:
        from_env(env)
    assert e.value.message == message


def test_the_default_nats_kv_sink_writes_to_its_bucket_with_its_alias_mounted() -> None:
    settings = from_env(
        {"TOOLPOD_RESULT_SINK": "nats_kv", "TOOLPOD_RESULT_BUCKET": "results", "TOOLPOD_RESULT_AUTH": "results_nats"}
    )
    rendered = render(parse_invocation(KV_GET), settings)
    env = {e["name"]: e.get("value") for e in rendered.job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TOOLPOD_SINK"] == "nats-kv:results"
    assert env["TOOLPOD_SINK_AUTH"] == "results_nats"
    assert sorted(rendered.credentials) == ["nats_main", "results_nats"]
    assert rendered.result_configmap is None


def test_the_default_nats_kv_sink_falls_back_to_the_tools_own_alias() -> None:
    settings = from_env({"TOOLPOD_RESULT_SINK": "nats_kv", "TOOLPOD_RESULT_BUCKET": "results"})
    rendered = render(parse_invocation(KV_GET), settings)
    env = {e["name"]: e.get("value") for e in rendered.job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TOOLPOD_SINK_AUTH"] == "nats_main"


def test_an_invocations_own_result_block_wins_over_the_default() -> None:
    settings = from_env({"TOOLPOD_RESULT_SINK": "nats_kv", "TOOLPOD_RESULT_BUCKET": "results"})
    rendered = render(parse_invocation({**KV_GET, "result": {"sink": "configmap"}}), settings)
    assert rendered.result_configmap is not None


OWNER = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "name": "tp-toolpod-auth", "uid": "u-1", "blockOwnerDeletion": False}


def test_the_chart_anchor_owns_every_job_so_uninstalling_removes_them() -> None:
    settings = from_env({"TOOLPOD_OWNER": "ClusterRole/tp-toolpod-auth"}).with_(owner_references=(OWNER,))
    assert settings.owner == "ClusterRole/tp-toolpod-auth"
    rendered = render(parse_invocation(KV_GET), settings)
    assert rendered.job["metadata"]["ownerReferences"] == [OWNER]
    # The Job's satellites stay owned by the Job alone (garbage collection chains them).
    assert all("ownerReferences" not in s["metadata"] for s in rendered.satellites())


def test_without_an_anchor_the_job_has_no_owner() -> None:
    assert "ownerReferences" not in render(parse_invocation(KV_GET), from_env({})).job["metadata"]


def test_the_chart_anchor_owns_every_record() -> None:
    from controller.records import Record, manifest

    rec = Record("i-1", "ns", "Running")
    assert manifest(rec, "d", 600, owners=(OWNER,))["metadata"]["ownerReferences"] == [OWNER]
    assert "ownerReferences" not in manifest(rec, "d", 600)["metadata"]


@pytest.mark.parametrize("owner", ["Role/x", "ClusterRole/", "tp-toolpod-auth"])
def test_an_owner_that_is_not_a_cluster_role_is_refused_before_any_request(owner: str) -> None:
    from controller.errors import InvalidInput
    from controller.service import ServeConfig, with_owner

    config = ServeConfig(settings=from_env({"TOOLPOD_OWNER": owner}))
    with pytest.raises(InvalidInput, match="TOOLPOD_OWNER must be ClusterRole/NAME"):
        with_owner(config, kube=None)
