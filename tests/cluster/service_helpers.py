"""A real ``toolpod serve`` for the service's cluster tests: its own process on a free
loopback port, configured for the cluster by environment (as the chart does), and real
ServiceAccounts with Roles on ``invocations.toolpod.dev`` and their bound tokens (TokenRequest).
Nothing here stands in for the API server, TokenReview or SubjectAccessReview.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from controller.k8s import Kube

from ._cluster import Cluster
from .controller_helpers import local_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``toolpod serve`` in a subprocess; ``url`` once ready."""

    def __init__(self, cluster: Cluster, namespace: str, log: Path, *args: str, **env: str) -> None:
        self.cluster, self.namespace, self.log_path = cluster, namespace, log
        self.args, self.extra_env = args, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        s = local_settings(self.cluster, self.namespace)
        return {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "TOOLPOD_IMAGE": s.image,
            "TOOLPOD_IMAGE_PULL_POLICY": "Never",
            **self.extra_env,
        }

    def start(self, ready: bool = True, timeout: float = 60) -> Server:
        cmd = [sys.executable, "-m", "controller.cli", "serve", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*cmd, *self.args], env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        want = "/readyz" if ready else "/healthz"
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(self.url + want, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"toolpod serve not {want} in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


def service_account(kube: Kube, ns: str, name: str, verbs: list[str], role_ns: str = "") -> str:
    """A ServiceAccount in ``ns`` allowed ``verbs`` on invocations.toolpod.dev in ``role_ns``
    (default ``ns``; none when ``verbs`` is empty), and a bound token of it."""
    kube.create(_obj("v1", "ServiceAccount", ns, name))
    if verbs:
        target = role_ns or ns
        rule = {"apiGroups": ["toolpod.dev"], "resources": ["invocations"], "verbs": verbs}
        role = {**_obj("rbac.authorization.k8s.io/v1", "Role", target, name), "rules": [rule]}
        binding = {
            **_obj("rbac.authorization.k8s.io/v1", "RoleBinding", target, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        }
        kube.create(role)
        kube.create(binding)
        _until_allowed(kube, f"system:serviceaccount:{ns}:{name}", target, verbs[0])
    url = f"/api/v1/namespaces/{ns}/serviceaccounts/{name}/token"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
    return str(kube.call("POST", url, body=body)["status"]["token"])


def _until_allowed(kube: Kube, user: str, ns: str, verb: str, timeout: float = 15) -> None:
    """RBAC reaches the authorizer through a cache: wait until the binding counts."""
    attrs = {"namespace": ns, "verb": verb, "group": "toolpod.dev", "resource": "invocations"}
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": attrs},
    }
    deadline = time.monotonic() + timeout
    url = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    while not kube.call("POST", url, body=body)["status"].get("allowed"):
        assert time.monotonic() < deadline, f"{user} never allowed to {verb} in {ns}"
        time.sleep(0.2)


def _obj(api: str, kind: str, ns: str, name: str) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
