"""`toolpod run examples/<x>.yaml` on the kind cluster: the examples as shipped, with only the
broker addresses and names pointed at this run's servers; exit 0 and the drained messages.
A broken invocation exits 2 without creating anything."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.k8s import Kube
from tests.fixtures.toolpod_cli import VERBS, assert_one_line, verb_args

from ._cluster import Cluster
from .controller_helpers import (  # noqa: F401  (fixtures)
    credential_secret,
    toolpod_cli,
    toolpod_objects,
    wait_no_toolpod_objects,
)

pytestmark = pytest.mark.cluster
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def toolpod_run(
    cluster: Cluster, namespace: str, spec: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return toolpod_cli(cluster, namespace, "run", str(spec), *extra)


def example(name: str, tmp_path: Path, **tool: Any) -> Path:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    doc["tool"].update(tool)
    out = tmp_path / name
    out.write_text(yaml.safe_dump(doc))
    return out


def test_kv_examples(
    cluster: Cluster, namespace: str, kube: Kube, nats: Any, tmp_path: Path
) -> None:
    credential_secret(kube, namespace, "nats_main", nats.server.credential())
    bucket = nats.kv_bucket()
    put = toolpod_run(cluster, namespace, example("kv-put.yaml", tmp_path, bucket=bucket))
    assert put.returncode == 0, put.stderr
    got = toolpod_run(
        cluster, namespace, example("kv-get.yaml", tmp_path, bucket=bucket), "-o", "yaml"
    )
    assert got.returncode == 0, got.stderr
    assert yaml.safe_load(got.stdout)["data"]["value"] == {"id": 42, "state": "new"}


def test_drain_nats_example(
    cluster: Cluster, namespace: str, kube: Kube, nats: Any, tmp_path: Path
) -> None:
    credential_secret(kube, namespace, "nats_main", nats.server.credential())
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream)
    nats.publish(f"{prefix}.a", [b'{"n":1}', b'{"n":2}'])
    out = toolpod_run(
        cluster, namespace, example("drain-nats.yaml", tmp_path, stream=stream, consumer=consumer)
    )
    assert out.returncode == 0, out.stderr
    assert [m["data"] for m in json.loads(out.stdout)["data"]["messages"]] == [{"n": 1}, {"n": 2}]


def test_drain_pubsub_example(
    cluster: Cluster, namespace: str, pubsub_emulator: Any, tmp_path: Path
) -> None:
    topic, sub = pubsub_emulator.topic_and_subscription()
    pubsub_emulator.publish_n(topic, 2)
    spec = example("drain-pubsub.yaml", tmp_path, subscription=sub, endpoint=pubsub_emulator.host)
    out = toolpod_run(cluster, namespace, spec)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data"]["count"] == 2


def test_drain_kafka_example(
    cluster: Cluster, namespace: str, kafka_broker: Any, tmp_path: Path
) -> None:
    topic = kafka_broker.create_topic()
    kafka_broker.produce_n(topic, 3)
    spec = example(
        "drain-kafka.yaml",
        tmp_path,
        brokers=kafka_broker.bootstrap,
        topic=topic,
        group=f"g-{topic}",
    )
    out = toolpod_run(cluster, namespace, spec)
    assert out.returncode == 0, out.stderr
    assert [m["data"]["i"] for m in json.loads(out.stdout)["data"]["messages"]] == [0, 1, 2]


def test_broken_invocation_exits_2_creating_nothing(
    cluster: Cluster, namespace: str, kube: Kube, tmp_path: Path
) -> None:
    out = toolpod_run(cluster, namespace, example("drain-kafka.yaml", tmp_path, batch="many"))
    assert out.returncode == 2, out
    assert "tool.batch" in out.stderr
    missing = toolpod_run(cluster, namespace, example("kv-get.yaml", tmp_path))
    assert missing.returncode == 2, missing
    assert "toolpod-cred-nats-main does not exist" in missing.stderr
    assert toolpod_objects(kube, namespace) == []


@pytest.fixture
def powerless_kubeconfig(cluster: Cluster, kube: Kube, namespace: str, tmp_path: Path) -> Path:
    """The cluster's kubeconfig with the token of a ServiceAccount that may do nothing."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody"}}
    kube.call("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts", body=account)
    url = f"/api/v1/namespaces/{namespace}/serviceaccounts/nobody/token"
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    token = kube.call("POST", url, body=request)["status"]["token"]
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config["users"] = [{"name": "nobody", "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "nobody"
    path = tmp_path / "nobody.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_refused_request_is_one_line_and_exit_2(
    cluster: Cluster, namespace: str, powerless_kubeconfig: Path, tmp_path: Path, verb: str
) -> None:
    args = verb_args(verb, example("kv-get.yaml", tmp_path))
    kubeconfig = ["--kubeconfig", str(powerless_kubeconfig)]
    out = toolpod_cli(cluster, namespace, *args, *kubeconfig, timeout=60)
    assert_one_line(out.returncode, 2, out.stdout, out.stderr, "toolpod: 403 Forbidden: ")
