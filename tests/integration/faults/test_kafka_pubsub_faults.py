"""Kafka and the Pub/Sub emulator frozen (SIGSTOP), or killed (SIGKILL) and restarted, at each
phase of a drain: the exit code and ``acked`` tell the truth, and a re-drain once the broker is
back shows nothing was lost (the emulator, whose state is in memory: claims nothing).

Phases: connect (frozen before the runner starts), fetch (frozen while the runner waits for the
first message), before the ack (the result is written; the test-only pause holds the runner
there while the broker freezes; the ack then goes to the frozen broker), during the ack (frozen
during the pause, killed once the commit or acknowledge is in flight to it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from runner.execute import PAUSE_BEFORE_ACK_ENV
from tests.fixtures import runner_cli as cli
from tests.fixtures._process import unique
from tests.fixtures.kafka import KafkaBroker
from tests.fixtures.pubsub import PubSubEmulator

from .conftest import FaultyProcess

pytestmark = pytest.mark.integration

N = 4


def kafka_drain(broker: KafkaBroker, n: int = N) -> dict[str, Any]:
    topic = broker.create_topic()
    if n:
        broker.produce_n(topic, n)
    return {"kind": "subscription", "source": "kafka", "brokers": broker.bootstrap, "topic": topic,
            "group": unique("g"), "timeout_ms": 3000}


def pubsub_drain(emulator: PubSubEmulator, n: int = N) -> dict[str, Any]:
    topic, subscription = emulator.topic_and_subscription(ack_deadline_s=10)
    if n:
        emulator.publish_n(topic, n)
    return {"kind": "subscription", "source": "pubsub", "endpoint": emulator.host,
            "subscription": subscription, "timeout_ms": 3000, "_topic": topic}


@pytest.fixture(params=["kafka", "pubsub"])
def source(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def drain_of(request: pytest.FixtureRequest, source: str, n: int = N) -> tuple[dict[str, Any], FaultyProcess, Any]:
    broker, faulty = request.getfixturevalue(f"faulty_{source}")
    tool = kafka_drain(broker, n) if source == "kafka" else pubsub_drain(broker, n)
    return tool, faulty, broker


def spec(tool: dict[str, Any]) -> dict[str, Any]:
    return {"tool": {k: v for k, v in tool.items() if not k.startswith("_")}}


def redrain(tool: dict[str, Any], creds: Path, expect: int = 0, within_s: float = 0) -> int:
    """Messages drained (and acked) until ``expect`` came back or ``within_s`` passed.

    A request sent to a frozen emulator waits in its socket and runs when it resumes: a pull
    whose client is gone then holds its messages until their ack deadline (10 s here)."""
    total, deadline = 0, time.monotonic() + within_s
    while True:
        out = cli.run(spec({**tool, "timeout_ms": 2000}), creds)
        assert out.code == 0, out.stderr[-1500:]
        total += int(out.data["count"])
        if total >= expect or time.monotonic() > deadline:
            return total


def wait_for(proc: Any, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in proc.stderr.readline():
            return
    raise AssertionError(f"the runner never logged {text!r}")


def assert_acked_false_after(
    fault: Any, tool: dict[str, Any], faulty: FaultyProcess, creds: Path, tmp_path: Path
) -> None:
    """The fault strikes while the runner pauses between writing its result and acking (it is
    given the runner's process: it may wait for the ack to start): the result (written, exit 0) holds every message and says
    ``acked: false``, and why."""
    target = tmp_path / "r.json"
    proc = cli.start(spec(tool), creds, sink=f"file:{target}", env={PAUSE_BEFORE_ACK_ENV: "3"})
    wait_for(proc, "test pause before ack")
    fault(faulty, proc)
    proc.communicate(timeout=120)  # reads the pipes: a full stderr pipe would block the runner
    assert proc.returncode == 0
    result = json.loads(target.read_text())
    assert (result["data"]["count"], result["data"]["acked"]) == (N, False), result["warnings"]
    assert any("ack failed" in w for w in result["warnings"]), result["warnings"]


def test_connect_phase_frozen_is_exit_3_and_loses_nothing(
    request: pytest.FixtureRequest, source: str, creds: Path
) -> None:
    tool, faulty, _ = drain_of(request, source)
    faulty.freeze()
    try:
        out = cli.run(spec(tool), creds, timeout_s=90)
    finally:
        faulty.thaw()
    assert out.code == 3, out.result
    assert redrain(tool, creds, expect=N, within_s=30) == N


def test_fetch_phase_frozen_is_an_outage_not_an_empty_success(
    request: pytest.FixtureRequest, source: str, creds: Path
) -> None:
    tool, faulty, broker = drain_of(request, source, n=0)
    proc = cli.start(spec(tool), creds, sink="stdout")
    wait_for(proc, "invocation started")
    time.sleep(1.5 if source == "pubsub" else 2.5)  # connected (Kafka: joined), waiting for records
    faulty.freeze()
    try:
        stdout, _ = proc.communicate(timeout=90)
    finally:
        faulty.thaw()
    code, result = proc.returncode, json.loads(stdout)
    assert code == 3, result
    assert result["data"] is None, "an outage is not count: 0"
    if source == "kafka":
        broker.produce_n(tool["topic"], 1)
    else:
        broker.publish_n(tool["_topic"], 1)
    assert redrain(tool, creds, expect=1, within_s=30) == 1


def test_frozen_before_the_ack_says_acked_false_and_loses_nothing(
    request: pytest.FixtureRequest, source: str, creds: Path, tmp_path: Path
) -> None:
    tool, faulty, _ = drain_of(request, source)
    try:
        assert_acked_false_after(lambda f, _: f.freeze(), tool, faulty, creds, tmp_path)
    finally:
        faulty.thaw()
    # Every message is in this result. The commit or acknowledge sent to the frozen broker
    # waits in its socket and may run when it resumes: they come back, or they were acked.
    assert redrain(tool, creds, expect=N, within_s=15) in (0, N)


# -- killed (SIGKILL) and restarted --------------------------------------------------------------
#
# Kafka restarts on the same log dir: a re-drain shows nothing was lost. The emulator keeps its
# state in memory: restarted, its subscription is gone, so what is tested is that the runner
# claims nothing it did not get — exit 3 for the outage, acked: false for acks that never reached
# it — and that a drain after the restart is an error (the subscription does not exist), never
# an empty success.


def after_restart(tool: dict[str, Any], creds: Path, source: str, expect: int) -> None:
    """Kafka: the ``expect`` messages come back. Pub/Sub: the drain fails, it claims nothing."""
    if source == "kafka":
        assert redrain(tool, creds, expect=expect, within_s=30) == expect
        return
    out = cli.run(spec({**tool, "timeout_ms": 1000}), creds)
    assert out.code == 2, out.result
    assert out.result["data"] is None


@pytest.fixture
def restart_after(request: pytest.FixtureRequest, source: str) -> Any:
    """The source's broker, restarted after the test whatever the test's outcome (the module's
    later tests use it)."""
    _, faulty = request.getfixturevalue(f"faulty_{source}")
    yield faulty
    if faulty.proc.poll() is not None:
        faulty.restart()


def test_connect_phase_killed_is_exit_3(
    request: pytest.FixtureRequest, source: str, creds: Path, restart_after: FaultyProcess
) -> None:
    tool, faulty, _ = drain_of(request, source)
    faulty.kill()
    out = cli.run(spec(tool), creds, timeout_s=90)
    assert out.code == 3, out.result
    assert out.result["data"] is None
    faulty.restart()
    after_restart(tool, creds, source, expect=N)


def test_fetch_phase_killed_is_an_outage_not_an_empty_success(
    request: pytest.FixtureRequest, source: str, creds: Path, restart_after: FaultyProcess
) -> None:
    tool, faulty, broker = drain_of(request, source, n=0)
    proc = cli.start(spec(tool), creds, sink="stdout")
    wait_for(proc, "invocation started")
    time.sleep(1.5 if source == "pubsub" else 2.5)  # connected (Kafka: joined), waiting
    faulty.kill()
    stdout, _ = proc.communicate(timeout=90)
    code, result = proc.returncode, json.loads(stdout)
    assert code == 3, result
    assert result["data"] is None, "an outage is not count: 0"
    faulty.restart()
    if source == "kafka":
        broker.produce_n(tool["topic"], 1)
    after_restart(tool, creds, source, expect=1)


def test_killed_before_the_ack_says_acked_false(
    request: pytest.FixtureRequest, source: str, creds: Path, tmp_path: Path,
    restart_after: FaultyProcess,
) -> None:
    tool, faulty, _ = drain_of(request, source)
    assert_acked_false_after(lambda f, _: f.kill(), tool, faulty, creds, tmp_path)
    faulty.restart()
    after_restart(tool, creds, source, expect=N)  # Kafka: nothing was committed


def killed_during_the_ack(faulty: FaultyProcess, proc: Any) -> None:
    """Frozen while the runner pauses, killed once the runner has sent its commit or acknowledge
    to it: in flight (in the frozen broker's socket, unanswered) when it dies."""
    faulty.freeze()
    wait_for(proc, "test pause over, acking")
    time.sleep(1.0)  # the commit or acknowledge leaves the runner; the frozen broker cannot answer
    faulty.kill()


def test_killed_during_the_ack_says_acked_false(
    request: pytest.FixtureRequest, source: str, creds: Path, tmp_path: Path,
    restart_after: FaultyProcess,
) -> None:
    tool, faulty, _ = drain_of(request, source)
    assert_acked_false_after(killed_during_the_ack, tool, faulty, creds, tmp_path)
    faulty.restart()
    after_restart(tool, creds, source, expect=N)  # Kafka: the commit was never applied
