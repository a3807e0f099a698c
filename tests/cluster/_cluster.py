"""The handle the `cluster` fixture yields (tests/cluster/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    api_host: str
    api_port: int
    runner_image: str
    node_name: str
    api_client: Any  # kubernetes.client.ApiClient

    def in_cluster_env(self) -> list[dict[str, str]]:
        """Container env that points in-cluster clients at the loopback API server.

        The `kubernetes` Service has no endpoints here (nothing may be reached through a
        Service address), so host-network Pods must talk to the API server on loopback.
        """
        return [
            {"name": "KUBERNETES_SERVICE_HOST", "value": self.api_host},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(self.api_port)},
        ]
