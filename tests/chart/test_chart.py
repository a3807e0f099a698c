"""The chart as operators meet it: it lints, its helm-unittest suite passes (every template's
invariants by path, RBAC verbs, schema rejections), and ``manifests/toolpod`` is exactly what it
renders with its defaults. The install on a real cluster is tested in tests/cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.fixtures._process import ROOT
from tests.fixtures.helm import CHART


def _run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, check=False, timeout=300
    )


def test_the_chart_lints_strictly(helm_bin: Path) -> None:
    out = _run(helm_bin / "helm", "lint", "--strict", CHART)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_helm_unittest_suite_passes(helm_bin: Path) -> None:
    out = _run(helm_bin / "helm-unittest", "--color=false", CHART)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Charts:      1 passed" in out.stdout, out.stdout


def test_the_rendered_manifests_are_in_sync_with_the_chart(helm_bin: Path) -> None:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "render-manifests"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "TOOLPOD_HELM_BIN": str(helm_bin)},
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_value_outside_the_schema_fails_the_render_with_its_name(helm_bin: Path) -> None:
    out = _run(helm_bin / "helm", "template", "t", CHART, "--set", "controller.maxInFlight=0")
    assert out.returncode != 0
    assert "maxInFlight" in out.stderr
