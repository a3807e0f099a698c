"""Shared by the integration tiers (subscription sources, faults)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    """An empty credentials directory; a test writes the aliases it needs."""
    d = tmp_path / "creds"
    d.mkdir()
    return d
