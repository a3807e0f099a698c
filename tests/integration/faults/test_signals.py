"""SIGTERM and SIGINT against a real NATS drain: the exit code and the messages tell the truth.

The consumer's ack_wait is 60 s, so a message that comes back within a test was released by the
runner (-NAK), not redelivered by the server's timer.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from runner.execute import PAUSE_BEFORE_ACK_ENV
from tests.fixtures import runner_cli as cli
from tests.fixtures.nats import Nats

pytestmark = pytest.mark.integration

COUNT, SIZE = 40, 20_000  # a result of ~800 KB: far more than a pipe holds (64 KiB)


@pytest.fixture
def drain(nats: Nats) -> dict[str, Any]:
    stream, prefix = nats.stream()
    consumer = nats.consumer(stream, ack_wait=60)
    nats.publish(f"{prefix}.o", [b"x" * SIZE for _ in range(COUNT)])
    return {"kind": "subscription", "source": "nats", "auth": "nats_main", "stream": stream,
            "consumer": consumer, "batch": COUNT, "timeout_ms": 2000}


def redrain(nats: Nats, tool: dict[str, Any]) -> int:
    out = cli.run({"tool": {**tool, "batch": 100, "timeout_ms": 500, "ack": "none"}}, nats.creds)
    assert out.code == 0, out.stderr
    return int(out.data["count"])


def wait_for(proc: Any, text: str, timeout_s: float = 30) -> None:
    """Wait until the runner logs ``text`` (stderr is read line by line)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if text in line:
            return
    raise AssertionError(f"the runner never logged {text!r}")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_the_result_is_stuck_in_a_pipe_acks_nothing(
    nats: Nats, drain: dict[str, Any], signum: signal.Signals, code: int
) -> None:
    proc = cli.start({"tool": drain}, nats.creds, sink="stdout")
    wait_for(proc, "invocation started")
    time.sleep(1.5)  # the drain is done and the print blocks: nobody reads stdout
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == code
    printed = proc.stdout.read()
    assert len(printed) < COUNT * SIZE  # cut off, and the exit code says so
    assert "Aborted" not in proc.stderr.read()
    assert redrain(nats, drain) == COUNT


def test_a_result_read_in_full_is_acked_and_exits_0(nats: Nats, drain: dict[str, Any]) -> None:
    out = cli.run({"tool": drain}, nats.creds)
    assert (out.code, out.data["count"], out.data["acked"]) == (0, COUNT, True)
    assert redrain(nats, drain) == 0


@pytest.mark.parametrize("sink", ["stdout", "file"])
def test_a_sigterm_after_the_write_and_before_the_ack_releases_everything(
    nats: Nats, drain: dict[str, Any], sink: str, tmp_path: Path
) -> None:
    target = tmp_path / "r.json"
    proc = cli.start({"tool": drain}, nats.creds, sink="stdout" if sink == "stdout" else f"file:{target}",
                     env={PAUSE_BEFORE_ACK_ENV: "60"})
    printed = proc.stdout.readline() if sink == "stdout" else ""
    wait_for(proc, "test pause before ack")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    written = json.loads(printed) if sink == "stdout" else json.loads(target.read_text())
    # stdout printed acked: true before the ack (it cannot be rewritten): exit 143 says it is
    # not so; the file says acked: false, as it is.
    assert written["data"]["acked"] is (sink == "stdout")
    assert redrain(nats, drain) == COUNT
