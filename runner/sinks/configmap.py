"""The ``configmap:NAME`` sink: the result in a ConfigMap the Job owns (written in-cluster)."""

from __future__ import annotations

from runner.errors import ConfigurationError
from runner.result import ToolResult


class ConfigMapSink:
    rewritable = True

    def __init__(self, name: str) -> None:
        self.name = f"configmap:{name}"
        raise ConfigurationError(
            "--sink configmap:NAME is not available in this build yet; use stdout, file:PATH "
            "or nats-kv:BUCKET"
        )

    async def write(self, result: ToolResult) -> None:  # pragma: no cover - unreachable
        raise NotImplementedError

    async def close(self) -> None:  # pragma: no cover - unreachable
        return None
