"""Fixtures for the chart tests: helm and helm-unittest, built by ``scripts/install-helm``
(cached by version). Without them the tests skip locally and fail under ``CI=true``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.fixtures._process import ROOT, unavailable

CHART = ROOT / "charts" / "toolpod"


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    """The directory holding ``helm`` and ``helm-unittest``."""
    if os.environ.get("TOOLPOD_HELM_BIN"):
        return Path(os.environ["TOOLPOD_HELM_BIN"])
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-helm")],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        unavailable(f"scripts/install-helm failed:\n{out.stderr[-2000:]}")
    return Path(out.stdout.strip())
