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
from tests.fixtures.kafka import KafkaBroker, start_kafka
from tests.fixtures.nats import Nats, _probe, nats_bin_dir, start_nats
from tests.fixtures.pubsub import PubSubEmulator, start_emulator


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



@pytest.fixture(scope="module")
def faulty_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KafkaBroker, FaultyProcess]]:
    """A Kafka broker of this module's own: frozen and thawed by its tests (not restarted)."""
    proc, broker = start_kafka(tmp_path_factory.mktemp("faulty-kafka"))
    faulty = FaultyProcess(proc, [], broker.log, lambda: True)
    try:
        yield broker, faulty
    finally:
        faulty.stop()


@pytest.fixture(scope="module")
def faulty_pubsub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PubSubEmulator, FaultyProcess]]:
    """A Pub/Sub emulator of this module's own: frozen and thawed by its tests."""
    proc, emulator = start_emulator(tmp_path_factory.mktemp("faulty-pubsub"))
    faulty = FaultyProcess(proc, [], Path(), lambda: True)
    try:
        yield emulator, faulty
    finally:
        faulty.stop()
