"""docs/reference.md §4 result record and sinks, docs/reference.md §6 logs, docs/reference.md §7 command-line contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.executors.local import runner_command
from tests.fixtures.nats import Nats
from tests.fixtures.runner_cli import run

pytestmark = pytest.mark.integration


def invocation(bucket: str) -> dict[str, object]:
    return {"id": "inv-1", "execution_id": "1234", "step": "read_order",
            "tool": {"kind": "nats", "operation": "kv_get", "auth": "nats_main",
                     "bucket": bucket, "key": "k"}}


def test_the_result_envelope_carries_every_field_of_the_spec(nats: Nats) -> None:
    out = run(invocation(nats.kv_bucket()), nats.creds)
    r = out.result
    assert set(r) == {"status", "data", "error", "warnings", "duration_ms", "invocation_id",
                      "execution_id", "step", "tool", "started_at", "finished_at", "attempt"}
    assert (r["invocation_id"], r["execution_id"], r["step"]) == ("inv-1", "1234", "read_order")
    assert r["tool"] == {"kind": "nats", "operation": "kv_get"}
    assert r["started_at"].endswith("Z")
    assert r["finished_at"] >= r["started_at"]
    assert r["attempt"] == 1


def test_stdout_holds_only_the_result_and_stderr_only_json_log_lines(nats: Nats) -> None:
    proc = subprocess.run([*runner_command(), "run", "--spec", "-", "--credentials", str(nats.creds)],
                          input=json.dumps(invocation(nats.kv_bucket())), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["status"] == "success"
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert lines, "the runner logs at least its start and finish"
    for line in lines:
        assert (line["execution_id"], line["invocation_id"]) == ("1234", "inv-1")
        assert (line["tool"], line["operation"]) == ("nats", "kv_get")


def test_a_yaml_spec_file_is_read_as_the_job_mounts_it(nats: Nats, tmp_path: Path) -> None:
    spec = tmp_path / "invocation.yaml"
    spec.write_text(f"execution_id: '7'\ntool:\n  kind: nats\n  operation: kv_keys\n"
                    f"  auth: nats_main\n  bucket: {nats.kv_bucket()}\n")
    proc = subprocess.run([*runner_command(), "run", "--spec", str(spec), "--credentials",
                           str(nats.creds)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["count"] == 0


def test_the_file_sink_writes_the_result_and_stdout_stays_empty(nats: Nats, tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    out = run(invocation(nats.kv_bucket()), nats.creds, sink=f"file:{target}")
    assert out.code == 0
    assert json.loads(target.read_text())["invocation_id"] == "inv-1"


def test_the_nats_kv_sink_stores_the_result_under_the_invocation_id(nats: Nats) -> None:
    results = nats.kv_bucket()
    out = run(invocation(nats.kv_bucket()), nats.creds, sink=f"nats-kv:{results}",
              extra_args=["--sink-auth", "nats_main"])
    assert out.code == 0, out.stderr
    entry = nats.server.run(lambda js: _kv_get(js, results, "inv-1"))
    assert json.loads(entry)["data"]["status"] == "not_found"


async def _kv_get(js: object, bucket: str, key: str) -> bytes:
    kv = await js.key_value(bucket)  # type: ignore[attr-defined]
    return bytes((await kv.get(key)).value)


def test_a_result_over_max_payload_is_an_explicit_error_never_truncated(nats: Nats) -> None:
    objects, results = nats.object_bucket(), nats.kv_bucket()
    big = "x" * (1024 * 1024 + 10)
    nats.tool("object_put", bucket=objects, name="big", data=big)
    spec = {"id": "too-big", "tool": {"kind": "nats", "operation": "object_get", "auth": "nats_main",
                                      "bucket": objects, "name": "big"}}
    out = run(spec, nats.creds, sink=f"nats-kv:{results}", extra_args=["--sink-auth", "nats_main"])
    assert out.code == 4
    stored = json.loads(nats.server.run(lambda js: _kv_get(js, results, "too-big")))
    assert stored["status"] == "error"
    assert stored["error"]["kind"] == "result_too_large"
    assert "over the server's max_payload" in stored["error"]["message"]


def test_an_invalid_spec_still_writes_an_error_result_and_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    out = run({"kind": "nats", "operation": "kv_get", "bucket": "b"}, tmp_path, sink=f"file:{target}")
    assert out.code == 2
    written = json.loads(target.read_text())
    assert written["error"] == {"kind": "configuration", "retriable": False,
                                "message": "invalid invocation: tool.key: required field is missing"}


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--sink", "s3:bucket"], "--sink 's3:bucket' is not a sink"),
     (["--sink", "nats-kv:results"], "needs --sink-auth ALIAS")],
)
def test_bad_sinks_are_rejected_before_anything_runs(tmp_path: Path, args: list[str], message: str) -> None:
    proc = subprocess.run([*runner_command(), "run", "--spec", "-", *args], input="{}",
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stdout == ""


def test_a_spec_that_is_not_yaml_says_where(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("tool:\n  kind: nats\n   operation: [\n")
    proc = subprocess.run([*runner_command(), "run", "--spec", str(spec)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert "not valid YAML or JSON at line" in json.loads(proc.stdout)["error"]["message"]


def test_help_explains_the_options_and_exit_codes() -> None:
    proc = subprocess.run([*runner_command(), "run", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for text in ("--spec", "--credentials", "--sink", "--sink-auth", "Exit codes", "TOOLPOD_SPEC"):
        assert text in proc.stdout


def test_a_nats_operation_imports_no_kubernetes_kafka_google_or_controller(nats: Nats) -> None:
    """Heavy clients stay off the NATS path: the whole process, measured by -X importtime."""
    spec = json.dumps(invocation(nats.kv_bucket()))
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "runner", "run", "--spec", "-",
                           "--credentials", str(nats.creds)], input=spec, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.split("|")[-1].strip()
               for line in proc.stderr.splitlines() if line.startswith("import time:")}
    top = {m.split(".")[0] for m in modules}
    assert "nats" in top
    assert top.isdisjoint({"kubernetes", "kafka", "google", "controller", "yaml"})
    assert "aiohttp.client" not in modules, "nats-py's websocket transport is not needed for nats://"


def test_an_invalid_invocation_with_a_kv_sink_is_exit_2_under_its_own_id(nats: Nats) -> None:
    results = nats.kv_bucket()
    spec = {"id": "bad-1", "execution_id": 42, "step": "s",
            "tool": {"kind": "nats", "operation": "kv_get", "auth": "nats_main", "bucket": "b", "ack": 1}}
    out = run(spec, nats.creds, sink=f"nats-kv:{results}", extra_args=["--sink-auth", "nats_main"])
    assert out.code == 2, out.stderr
    stored = json.loads(nats.server.run(lambda js: _kv_get(js, results, "bad-1")))
    assert (stored["invocation_id"], stored["execution_id"], stored["step"]) == ("bad-1", "42", "s")
    assert stored["error"]["kind"] == "configuration"


def test_a_kv_sink_whose_bucket_is_missing_fails_before_the_put_happens(nats: Nats) -> None:
    bucket = nats.kv_bucket()
    spec = {"id": "put-1", "tool": {"kind": "nats", "operation": "kv_put", "auth": "nats_main",
                                    "bucket": bucket, "key": "k", "value": "v"}}
    out = run(spec, nats.creds, sink="nats-kv:no_such_bucket", extra_args=["--sink-auth", "nats_main"])
    assert out.code == 2
    assert "--sink nats-kv:no_such_bucket: the bucket does not exist" in out.stderr
    assert nats.tool("kv_get", bucket=bucket, key="k").data["status"] == "not_found"
