"""What the runner leaves in its container's termination message (Kubernetes reads 4 KiB):
the whole ToolResult when it fits, else a summary that names the whole record's bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from runner import cli
from runner.result import ToolResult


@pytest.fixture
def termination_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "termination-log"
    path.touch()  # the kubelet creates it; outside a Pod it does not exist and nothing is written
    monkeypatch.setattr(cli, "_TERMINATION_LOG", path)
    return path


def test_a_small_result_is_left_whole(termination_log: Path) -> None:
    result = ToolResult(status="success", data={"value": "v"}, invocation_id="i1")
    cli._termination_message(result)
    assert termination_log.read_text() == result.to_json()


def test_a_large_result_leaves_a_summary_naming_the_bytes_of_the_whole(termination_log: Path) -> None:
    result = ToolResult(status="success", data={"value": "v" * 10_000}, invocation_id="i1")
    cli._termination_message(result)
    text = termination_log.read_text()
    assert len(text.encode()) <= 4096
    summary = json.loads(text)
    assert (summary["status"], summary["invocation_id"]) == ("success", "i1")
    assert summary["data"] == {
        "truncated": True,
        "sha256": hashlib.sha256(result.to_json().encode()).hexdigest(),
    }


def test_outside_a_pod_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_TERMINATION_LOG", tmp_path / "absent")
    cli._termination_message(ToolResult(status="success"))
    assert not (tmp_path / "absent").exists()
