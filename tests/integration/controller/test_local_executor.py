"""The `local` executor: the same runner CLI as a subprocess, the same result contract.

Against the session's real NATS server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from controller import cli
from controller.api import Toolpod
from controller.executors import SubmitError

pytestmark = pytest.mark.integration


def kv(operation: str, **fields: Any) -> dict[str, Any]:
    return {"tool": {"kind": "nats", "operation": operation, "auth": "nats_main", **fields}}


def test_put_then_get(nats: Any, tmp_path: Path) -> None:
    bucket = nats.kv_bucket()
    with Toolpod.local(credentials=nats.creds, workdir=tmp_path) as tp:
        put = tp.run_sync(kv("kv_put", bucket=bucket, key="k", value="v"), 60)
        got = tp.run_sync(kv("kv_get", bucket=bucket, key="k"), 60)
    assert (put.status, put.exit_code) == ("success", 0)
    assert got.result["data"]["value"] == "v"


def test_exit_codes_are_the_runners(nats: Any, tmp_path: Path) -> None:
    with Toolpod.local(credentials=nats.creds, workdir=tmp_path) as tp:
        out = tp.run_sync(kv("kv_get", bucket="no_such_bucket", key="k"), 60)
    assert (out.status, out.exit_code) == ("error", 2)


def test_missing_credential_file_creates_nothing(tmp_path: Path) -> None:
    with (
        Toolpod.local(credentials=tmp_path / "empty", workdir=tmp_path / "w") as tp,
        pytest.raises(SubmitError, match="nats_main"),
    ):
        tp.submit_sync(kv("kv_get", bucket="b", key="k"))
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_same_id_is_one_run(nats: Any, tmp_path: Path) -> None:
    stream, prefix = nats.stream()
    doc = {"id": "local-once", **kv("js_publish", subject=f"{prefix}.a", data="x")}
    with Toolpod.local(credentials=nats.creds, workdir=tmp_path) as tp:
        first, second = tp.submit_sync(doc), tp.submit_sync(doc)
        assert first.result_sync(60) == second.result_sync(60)

    async def count(js: Any) -> int:
        return int((await js.stream_info(stream)).state.messages)

    assert nats.server.run(count) == 1


def test_cli_run_local(nats: Any, tmp_path: Path) -> None:
    bucket = nats.kv_bucket()
    spec = tmp_path / "put.yaml"
    spec.write_text(json.dumps(kv("kv_put", bucket=bucket, key="k", value=1)))
    args = ["run", str(spec), "--executor", "local", "--credentials", str(nats.creds)]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["data"]["revision"] == 1
    table = CliRunner().invoke(cli.main, [*args, "-o", "table"])
    assert table.output.splitlines()[0].split() == ["ID", "TOOL", "STATUS", "DURATION_MS", "ERROR"]


def test_no_file_holds_the_spec_and_the_work_directory_goes(nats: Any, tmp_path: Path) -> None:
    secret = "SECRET-PASSWORD-7"
    doc = kv("kv_get", bucket="no_such_bucket", key="k", user="u", password=secret)
    with Toolpod.local(credentials=nats.creds, workdir=tmp_path / "given") as tp:
        tp.run_sync(doc, 60)
    written = [p for p in (tmp_path / "given").rglob("*") if p.is_file()]
    assert written, "the result and the log stay in a directory the caller gave"
    assert not [p for p in written if secret.encode() in p.read_bytes()]

    with Toolpod.local(credentials=nats.creds) as tp:
        tp.run_sync(doc, 60)
        own = tp.executor.workdir  # type: ignore[attr-defined]
        assert own.is_dir()
    assert not own.exists()
