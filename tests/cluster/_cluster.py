"""The handle the `cluster` fixture yields (tests/cluster/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path
    runner_image: str
    node_name: str
    api_client: Any  # kubernetes.client.ApiClient
