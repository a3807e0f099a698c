"""The outcome at the runner's final record (docs/controller.md, outcome rule 2): the controller
answers once the record is in the sink, not once the runner's exit is reported, and deletes the
Job after answering.

Each runner here lingers ``LINGER_S`` after it wrote its final record (its command is wrapped
in a shell that sleeps, and ends at once on SIGTERM), so an answer that waited for the
container's termination would come after that; the answers must come well before it. That a
transient error (exit 3) is never answered early, and its retry's record answers instead, is
``test_controller_failures.py::test_runner_exit_3_on_a_refused_connection``."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controller.k8s import Kube

from ._cluster import Cluster
from .controller_helpers import make_toolpod, nats_invocation, wait_no_toolpod_objects

pytestmark = pytest.mark.cluster

LINGER_S = 90
#: The runner, then a linger that SIGTERM (the Job's deletion) ends at once, keeping its code.
LINGERING = (
    "sh",
    "-c",
    f'toolpod-runner run; code=$?; trap "exit $code" TERM; sleep {LINGER_S} & wait $!; exit $code',
)
SINKS = [None, {"sink": "nats_kv"}]


def _result(sink: dict[str, Any] | None, nats: Any) -> dict[str, Any]:
    return {} if sink is None else {"result": {**sink, "bucket": nats.kv_bucket()}}


def _timed_run(tp: Any, doc: dict[str, Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = tp.run_sync(doc, LINGER_S * 2)
    return out, time.monotonic() - t0


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("sink", SINKS, ids=["configmap", "nats_kv"])
def test_a_kv_get_is_answered_at_its_record_while_the_runner_lingers(
    cluster: Cluster, kube: Kube, namespace: str, nats: Any, sink: dict[str, Any] | None
) -> None:
    bucket = nats.kv_bucket()
    with make_toolpod(cluster, namespace) as plain:
        assert (
            plain.run_sync(
                nats_invocation("kv_put", bucket=bucket, key="k", value=1), 120
            ).exit_code
            == 0
        )
    with make_toolpod(cluster, namespace, runner_command=LINGERING) as tp:
        out, took = _timed_run(
            tp, {**nats_invocation("kv_get", bucket=bucket, key="k"), **_result(sink, nats)}
        )
    assert (out.status, out.exit_code, out.reason) == ("success", 0, "Succeeded"), out
    assert out.result["data"]["value"] == 1
    assert took < LINGER_S / 2, f"answered after {took:.1f}s: it waited for the runner's exit"
    assert wait_no_toolpod_objects(kube, namespace) == []  # the Job deleted after the answer


@pytest.mark.usefixtures("creds")
@pytest.mark.parametrize("sink", SINKS, ids=["configmap", "nats_kv"])
def test_a_drain_is_answered_at_the_record_after_its_ack_never_the_one_before(
    cluster: Cluster, kube: Kube, namespace: str, nats: Any, sink: dict[str, Any] | None
) -> None:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream)
    nats.publish(f"{prefix}.x", [b'{"i":1}', b'{"i":2}'])
    drain = nats_invocation(
        "js_consume", stream=stream, consumer=consumer, batch=10, timeout_ms=300
    )
    pause = {"TOOLPOD_TEST_PAUSE_BEFORE_ACK": "5"}  # the record before the ack stands 5 s
    with make_toolpod(cluster, namespace, runner_command=LINGERING, extra_env=pause) as tp:
        out, took = _timed_run(tp, {**drain, **_result(sink, nats)})
    assert (out.status, out.exit_code) == ("success", 0), out
    assert out.result["data"]["acked"] is True  # never the record written before the ack
    assert [m["data"] for m in out.result["data"]["messages"]] == [{"i": 1}, {"i": 2}]
    assert took < LINGER_S / 2, f"answered after {took:.1f}s: it waited for the runner's exit"
    with make_toolpod(cluster, namespace) as plain:
        again = plain.run_sync({**drain, "tool": {**drain["tool"], "timeout_ms": 200}}, 120)
    assert again.result["data"]["count"] == 0, again  # acked: nothing comes back
    assert wait_no_toolpod_objects(kube, namespace) == []
