"""--sink: names checked before anything is read or connected; the file sink writes regular files only."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from runner.errors import ConfigurationError, ResultWriteError
from runner.result import ToolResult
from runner.sinks import parse_sink
from runner.sinks.local import FileSink

BAD_NAMES = [
    ("configmap:../../api/v1/secrets/x", "is not a Kubernetes object name"),
    ("configmap:Upper", "is not a Kubernetes object name"),
    ("configmap:a\n", "is not a Kubernetes object name"),
    ("configmap:" + "a" * 254, "254 characters is not a Kubernetes object name"),
    ("nats-kv:a.b", "is not a NATS KV bucket name"),
    ("nats-kv:a b", "is not a NATS KV bucket name"),
    ("nats-kv:ok\n", "is not a NATS KV bucket name"),
    ("nats-kv:>", "is not a NATS KV bucket name"),
    ("ftp:x", "is not a sink"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_NAMES)
def test_a_bad_sink_name_is_refused_before_anything_is_read(
    tmp_path: Path, text: str, fragment: str
) -> None:
    # --sink-auth names an alias that does not exist: reading it would be another error.
    with pytest.raises(ConfigurationError, match=fragment) as caught:
        parse_sink(text, sink_auth="missing", credentials=tmp_path)
    assert "\n" not in caught.value.message


RESULT = ToolResult(status="success", data={"ok": True}, invocation_id="x")


def write(path: Path) -> None:
    sink = FileSink(path)
    asyncio.run(sink.prepare())
    asyncio.run(sink.write(RESULT))


def test_the_file_sink_refuses_a_device() -> None:
    before = os.stat("/dev/null")
    with pytest.raises(ConfigurationError, match="is not a regular file"):
        write(Path("/dev/null"))
    assert os.stat("/dev/null").st_rdev == before.st_rdev


def test_the_file_sink_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0\n")
    link = tmp_path / "result.json"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError, match="is a symlink"):
        write(link)
    assert target.read_text() == "root:x:0:0\n"
    assert link.is_symlink()


def test_the_file_sink_does_not_replace_a_file_that_is_not_a_result(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("keep me\n")
    with pytest.raises(ConfigurationError, match="exists and is not a ToolResult"):
        write(other)
    assert other.read_text() == "keep me\n"


@pytest.mark.parametrize("existing", [None, "", '{"status":"error"}\n'])
def test_the_file_sink_writes_a_new_empty_or_result_file_and_leaves_no_temp_file(
    tmp_path: Path, existing: str | None
) -> None:
    path = tmp_path / "r.json"
    if existing is not None:
        path.write_text(existing)
    write(path)
    write(path)  # the rewrite after the ack
    assert path.read_text().startswith('{"status":"success"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_a_failed_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ResultWriteError, match="No space left on device"):
        asyncio.run(FileSink(tmp_path / "r.json").write(RESULT))
    assert list(tmp_path.iterdir()) == []


def test_a_path_replaced_by_a_symlink_while_the_tool_ran_fails_the_write(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "r.json")
    asyncio.run(sink.prepare())
    (tmp_path / "r.json").symlink_to("/etc/passwd")
    with pytest.raises(ResultWriteError, match="is a symlink"):
        asyncio.run(sink.write(RESULT))
