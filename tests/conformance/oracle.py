"""NoETL's own code as the oracle: ``noetl subscribe SPEC --once --dispatch server``.

PyPI's ``noetl`` (pinned in requirements/noetl.txt, installed by scripts/install-noetl into its
own virtualenv) embeds NoETL's source backends. ``noetl subscribe`` drains a NATS JetStream
consumer or a Pub/Sub subscription with that code and POSTs each normalised message to
``<server-url>/api/execute`` as ``{"path", "workload": {"message": <PolledMessage>, ...}}``; a
capture server on loopback collects them. ``--once`` polls until a poll returns something, so a
drain expected to be empty (or to fail) is ended with SIGTERM once it has had its chance; a
failed poll is only logged (``source poll failed ... error=...``) and retried.

A subscription spec puts the tool's connection keys under ``spec:`` and ``batch``/``timeout_ms``
under ``spec.runtime``; ``--credential FILE`` supplies the JSON behind ``spec.auth``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

#: The playbook path NoETL is told to dispatch to (the capture server only records it).
PLAYBOOK = "conformance/target"
_POLL_FAILED = re.compile(r"source poll failed .*?error=(?P<error>.*)$", re.MULTILINE)


class Capture:
    """The POSTed bodies, in arrival order (NoETL dispatches one message at a time)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.bodies.append(body)

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b["workload"]["message"] for b in self.bodies]


@contextmanager
def capture_server() -> Iterator[tuple[str, Capture]]:
    """An HTTP server on 127.0.0.1 answering ``POST /api/execute`` like NoETL's control plane."""
    capture = Capture()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            ok = self.path == "/api/execute" and body.get("path") == PLAYBOOK
            if ok:
                capture.add(body)
            reply = json.dumps({"execution_id": str(len(capture.bodies))}).encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", capture
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class NoetlRun:
    messages: list[dict[str, Any]]  # the PolledMessages NoETL dispatched
    log: str  # its stderr and stdout (tracing lines, the final summary)

    @property
    def poll_errors(self) -> list[str]:
        return [m.group("error").strip() for m in _POLL_FAILED.finditer(self.log)]


def subscription_spec(source: str, batch: int, timeout_ms: int, **conn: Any) -> dict[str, Any]:
    """A ``kind: Subscription`` spec (JSON is YAML) dispatching to the capture server."""
    return {
        "apiVersion": "noetl.io/v2",
        "kind": "Subscription",
        "metadata": {"name": "conformance"},
        "spec": {
            "source": source,
            **conn,
            "runtime": {"batch": batch, "timeout_ms": timeout_ms},
            "dispatch": {"playbook": PLAYBOOK},
        },
    }


@dataclass
class Noetl:
    """The pinned ``noetl`` binary, run in a scratch directory with a scratch HOME."""

    binary: Path
    workdir: Path

    def drain(
        self,
        spec: dict[str, Any],
        *,
        credential: dict[str, Any] | None = None,
        expect: str = "messages",
        wait_s: float = 3.0,
    ) -> NoetlRun:
        """Run one ``--once`` drain. ``expect``: ``messages`` (it exits by itself), ``nothing``
        (SIGTERM after ``wait_s``) or ``poll errors`` (SIGTERM once it has logged a failed poll
        and failed again on the next one)."""
        run_dir = self.workdir / f"run-{time.monotonic_ns()}"
        run_dir.mkdir(parents=True)
        (run_dir / "spec.yaml").write_text(json.dumps(spec))
        args = ["--events", str(run_dir / "events.jsonl")]
        if credential is not None:
            (run_dir / "credential.json").write_text(json.dumps(credential))
            args += ["--credential", str(run_dir / "credential.json")]
        with capture_server() as (url, capture):
            log = self._run(run_dir, url, args, expect, wait_s)
            return NoetlRun(capture.messages(), log)

    def _run(self, run_dir: Path, url: str, args: list[str], expect: str, wait_s: float) -> str:
        cmd = [str(self.binary), "subscribe", "spec.yaml", "--once", "--dispatch", "server"]
        log_path = run_dir / "noetl.log"
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(run_dir), "NO_COLOR": "1"}
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [*cmd, "--server-url", url, *args],
                cwd=run_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
            try:
                self._wait(proc, log_path, expect, wait_s)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return log_path.read_text(errors="replace")

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], log: Path, expect: str, wait_s: float) -> None:
        if expect == "messages":
            proc.wait(timeout=60)
            return
        failing = expect == "poll errors"
        deadline = time.monotonic() + (30 if failing else wait_s)
        while time.monotonic() < deadline and proc.poll() is None:
            if failing and len(_POLL_FAILED.findall(log.read_text(errors="replace"))) >= 2:
                break
            time.sleep(0.1)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # --once never ends an empty drain by itself
            proc.wait(timeout=30)
