"""The ``local`` executor: the same ``toolpod-runner run`` as a subprocess, no cluster.

Same spec document (handed over on the runner's stdin: it may carry connection secrets, so it
never touches a disk), same credentials directory layout (``DIR/<alias>``), same result contract
(``--sink file:PATH``, exit codes 0/2/3/4, 5 when the runner left no result). Results and logs
live in a private work directory that ``close`` removes when the executor made it.
Invocations live in this process only: there is no restart recovery, which is what the
``kubernetes`` executor is for.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.executors.base import InvocationNotFound, SubmitError
from controller.outcome import Observed, Outcome, parse_record, synthetic
from controller.render import credential_aliases, metadata, spec_document
from runner import contract as C
from runner.credentials import credentials_dir
from runner.spec.invocation import Invocation

#: Beyond the invocation's deadline_s the runner is killed (it enforces deadline_s itself).
KILL_GRACE_S = 30


@dataclass
class _Run:
    invocation: Invocation
    proc: subprocess.Popen[bytes]
    result: Path
    stderr: Path
    cancelled: bool = False
    done: Future[Outcome] = field(default_factory=Future)


def runner_command() -> list[str]:
    exe = Path(sys.executable).with_name("toolpod-runner")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("toolpod-runner")
    return [found] if found else [sys.executable, "-m", "runner"]


class LocalExecutor:
    name = "local"

    def __init__(
        self,
        credentials: str | Path | None = None,
        workdir: Path | None = None,
        command: list[str] | None = None,
        **_ignored: Any,
    ) -> None:
        self.credentials = credentials_dir(str(credentials) if credentials else None)
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="toolpod-local-"))
        self.command = command or runner_command()
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def submit(self, invocation: Invocation) -> str:
        inv_id = invocation.invocation_id
        with self._lock:
            if inv_id in self._runs:
                return inv_id  # the same id is the same run (docs/reference.md §1)
            for alias in credential_aliases(invocation):
                if not (self.credentials / alias).is_file():
                    raise SubmitError(
                        f"credential alias '{alias}': no file {alias} in {self.credentials}"
                    )
            self._runs[inv_id] = run = self._start(invocation)
        threading.Thread(target=self._wait, args=(run,), daemon=True).start()
        return inv_id

    def _start(self, invocation: Invocation) -> _Run:
        base = self.workdir / invocation.invocation_id
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        result, stderr = base / "result.json", base / "runner.log"
        args = ["run", "--spec", "-", "--credentials", str(self.credentials)]
        with stderr.open("wb") as err:
            proc = subprocess.Popen(
                [*self.command, *args, "--sink", C.sink_arg(C.SINK_FILE, str(result))],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        assert proc.stdin is not None
        try:
            with proc.stdin:
                proc.stdin.write(json.dumps(spec_document(invocation)).encode())
        except BrokenPipeError:
            pass  # the runner ended before reading it: its exit code and log tell why
        return _Run(invocation, proc, result, stderr)

    def _wait(self, run: _Run) -> None:
        deadline = run.invocation.deadline_s
        try:
            run.proc.wait(timeout=deadline + KILL_GRACE_S if deadline else None)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
        run.done.set_result(self._outcome(run))

    def _outcome(self, run: _Run) -> Outcome:
        obs = Observed(job={"metadata": metadata(run.invocation, "local")})
        if run.cancelled:
            msg = "the invocation was cancelled"
            return synthetic(obs, "cancelled", "cancelled", "Cancelled", msg)
        text = run.result.read_text() if run.result.exists() else ""
        record = parse_record(text)
        code = run.proc.returncode
        if record is not None:
            return Outcome(record.status, code, record.model_dump(mode="json"), "Exited")
        tail = run.stderr.read_text(errors="replace").strip()[-1000:]
        msg = f"the runner exited with code {code} without a result"
        return synthetic(obs, "error", "job_failed", "Crashed", f"{msg}: {tail}" if tail else msg)

    def _run(self, inv_id: str) -> _Run:
        with self._lock:
            run = self._runs.get(inv_id)
        if run is None:
            raise InvocationNotFound(f"no local invocation '{inv_id}' in this process")
        return run

    def outcome(self, inv_id: str) -> Future[Outcome]:
        return self._run(inv_id).done

    def get(self, inv_id: str) -> Outcome | None:
        done = self._run(inv_id).done
        return done.result() if done.done() else None

    def cancel(self, inv_id: str) -> Outcome:
        run = self._run(inv_id)
        run.cancelled = True
        run.proc.kill()
        return run.done.result(timeout=30)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            runs = list(self._runs.items())
        return [
            {
                "id": i,
                "tool": r.invocation.tool.kind,
                "operation": r.invocation.tool.operation,
                "state": r.done.result().status if r.done.done() else "running",
            }
            for i, r in runs
        ]

    def logs(self, inv_id: str) -> str:
        return self._run(inv_id).stderr.read_text(errors="replace")

    def close(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
