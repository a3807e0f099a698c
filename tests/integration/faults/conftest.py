"""The fault tier's servers: each test gets its own broker process to freeze (SIGSTOP), thaw
(SIGCONT), kill (SIGKILL) and restart on the same port and store — never the session's."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures._process import start, stop, wait_ready
from tests.fixtures.nats import Nats, _probe, nats_bin_dir, start_nats


class FaultyProcess:
    """A broker process and the faults a test injects into it."""

    def __init__(
        self, proc: subprocess.Popen[bytes], cmd: list[str], log: Path, ready: Callable[[], bool]
    ) -> None:
        self.proc, self._cmd, self._log, self._ready = proc, cmd, log, ready

    def freeze(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start it again on the same port and store; returns once it answers."""
        self.proc = start(self._cmd, self._log)
        wait_ready(self.proc, self._ready, 30, "the restarted broker", self._log)

    def stop(self) -> None:
        self.thaw()
        stop(self.proc)


@pytest.fixture
def faulty_nats(tmp_path: Path) -> Iterator[tuple[Nats, FaultyProcess]]:
    """A NATS server of this test's own (JetStream on disk, so a restart keeps the stream)."""
    workdir = tmp_path / "nats"
    workdir.mkdir()
    proc, server = start_nats(workdir, sync="always")
    cmd = [str(nats_bin_dir() / "nats-server"), "-c", str(workdir / "nats.conf")]
    faulty = FaultyProcess(proc, cmd, server.log, _probe(server))
    try:
        yield Nats(server, server.write_credentials(tmp_path / "creds")), faulty
    finally:
        faulty.stop()

