"""A Job's satellites are created at once, but a RoleBinding only once its Role exists: the API
server's escalation check reads the Role, and a controller without the ``bind`` verb (the
chart's RBAC) gets 404 for a RoleBinding of a Role not created yet — every queued start of
the load suite failed so (e2e/chaos)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from controller.executors.kubernetes import KubernetesExecutor
from controller.render import render
from controller.settings import Settings
from runner.spec.invocation import parse_invocation


def test_the_rolebinding_is_created_after_every_other_satellite_exists() -> None:
    done: list[str] = []
    lock = threading.Lock()

    def ensure_owned(manifest: dict[str, Any], uid: str) -> None:
        if manifest["kind"] == "RoleBinding":
            with lock:
                assert "Role" in done, f"RoleBinding before its Role (done: {done})"
        time.sleep(0.05)  # a slow API call: a concurrent RoleBinding would overtake it
        with lock:
            done.append(manifest["kind"])

    r = render(parse_invocation({"tool": {"kind": "nats", "operation": "kv_get", "bucket": "b", "key": "k"}}), Settings(namespace="ns"))
    patched: list[Any] = []
    fake = SimpleNamespace(_pool=ThreadPoolExecutor(8), _ensure_owned=ensure_owned, kube=SimpleNamespace(merge_patch=lambda *a: patched.append(a)))
    KubernetesExecutor._finish_setup(fake, r, "uid-1")  # type: ignore[arg-type]
    assert done[-1] == "RoleBinding"
    assert sorted(done) == sorted(m["kind"] for m in r.satellites())
    assert patched == [("batch/v1", "Job", "ns", r.name, {"spec": {"suspend": False}})]
