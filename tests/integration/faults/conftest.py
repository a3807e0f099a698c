"""The fault tier's servers: broker processes of the tier's own to freeze (SIGSTOP), thaw
(SIGCONT), kill (SIGKILL) and restart on the same port and store — never the session's.

A restart keeps what the broker keeps on disk: NATS its JetStream store, Kafka its log dir (both
the same directories). The Pub/Sub emulator keeps everything in memory: restarted, it is an empty
emulator on the same port, without the topics, subscriptions and messages it had."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures._process import listen_host, start, stop, wait_ready
from tests.fixtures.kafka import KafkaBroker, kafka_command, kafka_ready, start_kafka
from tests.fixtures.nats import Nats, _probe, nats_bin_dir, start_nats
from tests.fixtures.pubsub import PubSubEmulator, answers, emulator_command, start_emulator


class FaultyProcess:
    """A broker process and the faults a test injects into it."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        cmd: list[str],
        log: Path,
        ready: Callable[[], bool],
        env: dict[str, str] | None = None,
    ) -> None:
        self.proc, self._cmd, self._log, self._ready, self._env = proc, cmd, log, ready, env

    def freeze(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start it again on the same port and store; returns once it answers."""
        self.proc = start(self._cmd, self._log, self._env)
        wait_ready(self.proc, self._ready, 120, "the restarted broker", self._log)

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
    """A Kafka broker of this module's own (its log dir on disk, kept across a restart)."""
    workdir = tmp_path_factory.mktemp("faulty-kafka")
    proc, broker = start_kafka(workdir)
    faulty = FaultyProcess(proc, kafka_command(workdir), broker.log, lambda: kafka_ready(broker.bootstrap))
    try:
        yield broker, faulty
    finally:
        faulty.stop()


@pytest.fixture(scope="module")
def faulty_pubsub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PubSubEmulator, FaultyProcess]]:
    """A Pub/Sub emulator of this module's own; restarted, it is empty (state in memory)."""
    workdir = tmp_path_factory.mktemp("faulty-pubsub")
    proc, emulator = start_emulator(workdir)
    listen = f"{listen_host()}:{emulator.host.rsplit(':', 1)[1]}"
    cmd, env = emulator_command(str(shutil.which("gcloud")), workdir, listen)
    faulty = FaultyProcess(proc, cmd, emulator.log, lambda: answers(emulator.host), env)
    try:
        yield emulator, faulty
    finally:
        faulty.stop()
