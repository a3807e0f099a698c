"""A NATS server frozen (SIGSTOP) or killed at each phase of a drain: the exit code and
``acked`` tell the truth, and a re-drain once the server is back shows nothing was lost.

Phases: connect (before the runner starts), fetch (while it waits for messages), before the ack
(the result is written; the test-only pause holds the runner there) — the ack is then sent to a
frozen or dead server — and during the ack (the server frozen during the pause, the acks sent
to it, and the server killed while they wait for its confirmation). The consumer's ack_wait is 60 s: a message that comes back within a test
was released or never acked, not redelivered by the server's timer.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from runner.execute import PAUSE_BEFORE_ACK_ENV
from tests.fixtures import runner_cli as cli
from tests.fixtures.nats import Nats

from .conftest import FaultyProcess

pytestmark = pytest.mark.integration

N = 5


def setup_drain(nats: Nats, publish: int = N) -> dict[str, Any]:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream, ack_wait=60)
    if publish:
        nats.publish(f"{prefix}.o", [b'{"n": %d}' % i for i in range(publish)])
    return {"kind": "subscription", "source": "nats", "auth": "nats_main", "stream": stream,
            "consumer": consumer, "batch": 50, "timeout_ms": 3000}


def redrain(nats: Nats, tool: dict[str, Any]) -> int:
    """Messages ready now (released or never acked), acking them."""
    out = cli.run({"tool": {**tool, "timeout_ms": 1000}}, nats.creds)
    assert out.code == 0, out.stderr[-1500:]
    return int(out.data["count"])


def accounted(nats: Nats, tool: dict[str, Any]) -> int:
    """After a SIGKILL: messages ready now plus those the restarted server still holds as
    delivered-and-unacked (its consumer state on disk may predate the kill; they come back
    after ack_wait). Neither kind is lost."""
    ready = redrain(nats, tool)
    info = nats.server.run(lambda js: js.consumer_info(tool["stream"], tool["consumer"]))
    return ready + int(info.num_ack_pending)


def wait_for(proc: Any, text: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in proc.stderr.readline():
            return
    raise AssertionError(f"the runner never logged {text!r}")


@pytest.mark.parametrize("fault", ["freeze", "kill"])
def test_connect_phase_is_exit_3_and_loses_nothing(
    faulty_nats: tuple[Nats, FaultyProcess], fault: str
) -> None:
    nats, server = faulty_nats
    tool = setup_drain(nats)
    getattr(server, fault)()
    out = cli.run({"tool": tool}, nats.creds, timeout_s=60)
    assert out.code == 3, out.result
    assert out.result["error"]["kind"] in ("connection", "timeout")
    server.thaw() if fault == "freeze" else server.restart()
    assert accounted(nats, tool) == N


@pytest.mark.parametrize("fault", ["freeze", "kill"])
def test_fetch_phase_is_an_outage_not_an_empty_success(
    faulty_nats: tuple[Nats, FaultyProcess], fault: str
) -> None:
    nats, server = faulty_nats
    tool = setup_drain(nats, publish=0)
    proc = cli.start({"tool": tool}, nats.creds, sink="stdout")
    wait_for(proc, "invocation started")
    time.sleep(1.0)  # connected, bound to the consumer, waiting for the first message
    getattr(server, fault)()
    stdout, _ = proc.communicate(timeout=60)  # reads the pipes: a full one blocks the runner
    assert proc.returncode == 3
    result = json.loads(stdout)
    assert result["status"] in ("error", "timeout")
    assert result["data"] is None, "an outage is not count: 0"
    server.thaw() if fault == "freeze" else server.restart()
    nats.publish(f"{tool['stream'].lower()}.o", [b"after"])
    assert redrain(nats, tool) == 1


def start_paused(nats: Nats, tool: dict[str, Any], target: Path) -> Any:
    proc = cli.start({"tool": tool}, nats.creds, sink=f"file:{target}", env={PAUSE_BEFORE_ACK_ENV: "3"})
    wait_for(proc, "test pause before ack")
    return proc


def resumed_in_time(server: FaultyProcess) -> None:
    server.freeze()
    time.sleep(6)  # the acks go to the frozen server 3 s in; it resumes 3 s later (< 10 s)
    server.thaw()


BEFORE_THE_ACK = [
    # (fault while the runner pauses before its ack, acked, the messages a re-drain accounts
    # for once the server is back: the acks of a server frozen past the bound wait in its
    # socket and may be applied when it resumes — 0 or N, never some lost)
    pytest.param(resumed_in_time, True, {0}, id="frozen, resumed inside the confirmation bound"),
    pytest.param(FaultyProcess.freeze, False, {0, N}, id="frozen past the confirmation bound"),
    pytest.param(FaultyProcess.kill, False, {N}, id="killed"),
]


@pytest.mark.parametrize(("fault", "acked", "accounted_for"), BEFORE_THE_ACK)
def test_before_the_ack_the_result_says_what_the_server_confirmed(
    faulty_nats: tuple[Nats, FaultyProcess], tmp_path: Path,
    fault: Any, acked: bool, accounted_for: set[int],
) -> None:
    nats, server = faulty_nats
    tool = setup_drain(nats)
    target = tmp_path / "r.json"
    proc = start_paused(nats, tool, target)
    fault(server)
    proc.communicate(timeout=60)
    assert proc.returncode == 0  # the result is written; its acked says what happened
    result = json.loads(target.read_text())
    assert (result["data"]["count"], result["data"]["acked"]) == (N, acked), result["warnings"]
    if not acked:
        assert any("ack failed" in w for w in result["warnings"]), result["warnings"]
    server.restart() if server.proc.poll() is not None else server.thaw()  # killed, or frozen
    assert accounted(nats, tool) in accounted_for


def test_killed_before_the_ack_on_stdout_is_exit_3(
    faulty_nats: tuple[Nats, FaultyProcess],
) -> None:
    nats, server = faulty_nats
    tool = setup_drain(nats)
    proc = cli.start({"tool": tool}, nats.creds, sink="stdout", env={PAUSE_BEFORE_ACK_ENV: "3"})
    printed = json.loads(proc.stdout.readline())
    server.kill()
    assert printed["data"]["acked"] is True  # printed before the ack: the exit code corrects it
    proc.communicate(timeout=60)
    assert proc.returncode == 3
    server.restart()
    assert accounted(nats, tool) == N


def killed_during_the_ack(proc: Any, server: FaultyProcess) -> None:
    """Frozen while the runner pauses, killed once the runner has sent its acks to it: they
    are in flight (in the frozen server's socket, unconfirmed) when it dies."""
    server.freeze()
    wait_for(proc, "test pause over, acking")
    time.sleep(1.0)  # the acks leave the runner; the frozen server cannot confirm them
    server.kill()


@pytest.mark.parametrize(("sink", "code", "acked"), [("file", 0, False), ("stdout", 3, True)])
def test_killed_during_the_ack_tells_the_truth_and_loses_nothing(
    faulty_nats: tuple[Nats, FaultyProcess], tmp_path: Path, sink: str, code: int, acked: bool
) -> None:
    nats, server = faulty_nats
    tool = setup_drain(nats)
    target = tmp_path / "r.json"
    proc = cli.start({"tool": tool}, nats.creds, sink="stdout" if sink == "stdout" else f"file:{target}",
                     env={PAUSE_BEFORE_ACK_ENV: "2"})
    printed = proc.stdout.readline() if sink == "stdout" else ""
    wait_for(proc, "test pause before ack")
    killed_during_the_ack(proc, server)
    proc.communicate(timeout=60)
    # A file says acked: false, as it is; stdout printed acked: true before the ack, and exit 3
    # says it is not so.
    assert proc.returncode == code
    result = json.loads(printed) if sink == "stdout" else json.loads(target.read_text())
    assert (result["data"]["count"], result["data"]["acked"]) == (N, acked), result["warnings"]
    if sink == "file":
        assert any("ack failed" in w for w in result["warnings"]), result["warnings"]
    server.restart()
    assert accounted(nats, tool) == N  # the server died before applying an ack: all come back
