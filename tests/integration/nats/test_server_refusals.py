"""A NATS server that closes the connection (or denies an operation) with an ``-ERR`` for a
reason other than unreachability: the runner reports that reason, with the exit code it means —
never "cannot connect" (exit 3) for a configuration error (docs/failure-semantics.md).

Each case runs against a nats-server of its own whose configuration provokes the ``-ERR``: a
short control line (a 600-character subject, valid in a spec, is longer than the server takes),
a user denied every publish, a wrong password.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures._process import free_port, listen_host, start, stop, wait_ready
from tests.fixtures.nats import NatsServer, _probe, nats_bin_dir
from tests.fixtures.runner_cli import Outcome, run

pytestmark = pytest.mark.integration

USERS = '{user: "toolpod", password: "s3cr3t-pw"}, {user: "muted", password: "muted-pw", permissions: {publish: {deny: ">"}}}'


def start_server(workdir: Path, settings: str) -> tuple[subprocess.Popen[bytes], NatsServer]:
    port = free_port()
    conf = workdir / "nats.conf"
    conf.write_text(
        f'listen: "{listen_host()}:{port}"\n{settings}\n'
        f'jetstream {{ store_dir: "{workdir / "js"}" }}\n'
        f"accounts {{ A {{ jetstream: enabled, users: [{USERS}] }} }}\n"
    )
    log = workdir / "nats.log"
    proc = start([str(nats_bin_dir() / "nats-server"), "-c", str(conf)], log)
    server = NatsServer(port=port, user="toolpod", password="s3cr3t-pw", token=None, log=log)
    wait_ready(proc, _probe(server), 30, "nats-server", log)
    return proc, server


def publish(server: NatsServer, subject: str, user: str = "toolpod", pw: str = "s3cr3t-pw") -> dict[str, object]:
    return {"kind": "nats", "operation": "js_publish", "url": server.url, "user": user,
            "password": pw, "subject": subject, "data": {"n": 1}}


CASES = [
    # (server settings, the tool, exit, error kind, the server's words)
    pytest.param("max_control_line: 256", lambda s: publish(s, "o." + "x" * 600),
                 2, "configuration", "Maximum Control Line Exceeded", id="subject longer than the control line"),
    pytest.param("", lambda s: publish(s, "o.x", "muted", "muted-pw"),
                 2, "auth", "Permissions Violation", id="publish denied to the user"),
    pytest.param("", lambda s: publish(s, "o.x", "toolpod", "wrong-pw"),
                 2, "auth", "Authorization Violation", id="wrong password"),
]


@pytest.mark.parametrize(("settings", "tool", "code", "kind", "words"), CASES)
def test_a_server_refusal_is_reported_as_what_it_is(
    tmp_path: Path, settings: str, tool: object, code: int, kind: str, words: str
) -> None:
    proc, server = start_server(tmp_path, settings)
    try:
        out: Outcome = run({"tool": tool(server)}, tmp_path)  # type: ignore[operator]
    finally:
        stop(proc)
    assert (out.code, out.result["error"]["kind"]) == (code, kind), out.result
    assert words.lower() in out.error.lower(), out.error
    assert "cannot connect" not in out.error
    assert "wrong-pw" not in out.error + out.stderr


def hold_the_only_connection(server: NatsServer) -> socket.socket:
    """The server's one connection: retried until it is ours (the readiness probe's connection
    may still count for a moment)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = socket.create_connection((listen_host(), server.port), timeout=10)
        held.recv(4096)  # INFO
        held.sendall(b'CONNECT {"user":"toolpod","pass":"s3cr3t-pw","verbose":false}\r\nPING\r\n')
        if held.recv(100).startswith(b"PONG"):
            return held
        held.close()
        time.sleep(0.1)
    raise AssertionError("never held the server's only connection")


FULL = ("is at its connection limit; retry when connections free up (-ERR 'maximum connections exceeded')",
        "cannot connect to the NATS server")


def test_a_full_server_is_exit_3_whichever_way_the_refusal_reaches_the_runner(tmp_path: Path) -> None:
    """``max_connections: 1`` and that connection held: the server sends INFO and its -ERR,
    then closes. Read by nats-py or left in its reader's buffer, the -ERR names the limit; when
    the reset reaches nats-py's second write first, the socket is closed with the -ERR unread in
    the kernel and the runner never receives it: "cannot connect". Both are exit 3, kind
    connection — retry later (docs/failure-semantics.md)."""
    proc, server = start_server(tmp_path, "max_connections: 1")
    try:
        with hold_the_only_connection(server):
            outcomes = [run({"tool": publish(server, "o.x")}, tmp_path) for _ in range(5)]
    finally:
        stop(proc)
    for out in outcomes:
        assert (out.code, out.result["error"]["kind"]) == (3, "connection"), out.result
        assert any(words in out.error for words in FULL), out.error
