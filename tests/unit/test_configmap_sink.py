"""The runner's ``configmap:NAME`` sink without a cluster: where it refuses to work and what it
refuses to write. (Every cluster test writes through it for real.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from runner.errors import ConfigurationError, ResultTooLarge
from runner.result import ToolResult
from runner.sinks import parse_sink
from runner.sinks.configmap import MAX_RESULT_BYTES, ConfigMapSink


def test_outside_a_pod_it_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigurationError, match="only inside a Kubernetes Pod"):
        parse_sink("configmap:r", sink_auth=None, credentials=tmp_path)


def test_a_result_over_the_configmap_limit_is_result_too_large(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("t")
    (tmp_path / "namespace").write_text("ns")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    sink = ConfigMapSink("toolpod-x-result", sa_dir=tmp_path)
    big = ToolResult(status="success", data={"blob": "x" * MAX_RESULT_BYTES})
    with pytest.raises(ResultTooLarge, match="toolpod-x-result"):
        asyncio.run(sink.write(big))
    assert sink._url.endswith("/api/v1/namespaces/ns/configmaps/toolpod-x-result")
