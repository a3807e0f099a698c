"""The worker client speaks HTTP only: importing it loads neither the Kubernetes client nor
the controller's or runner's machinery (a worker image needs httpx and nothing else)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("kubernetes", "controller.k8s", "controller.executors", "runner", "pydantic")


def test_the_client_imports_only_httpx() -> None:
    code = (
        "import sys, controller.client\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or m in {FORBIDDEN!r}]\n"
        "print(','.join(sorted(bad)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
