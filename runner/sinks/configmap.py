"""The ``configmap:NAME`` sink: the result as ``result.json`` of a ConfigMap the Job owns.

In-cluster only. The controller pre-creates the (empty) ConfigMap and gives the runner's Pod a
ServiceAccount whose Role allows get/update/patch on that one ConfigMap and nothing else; the
runner merge-patches it with the Pod's own bound token. Plain ``requests`` against the API
server (token, CA and address as every in-cluster client finds them) keeps the import cost off
the runner's start-up: the ``kubernetes`` client would add about a second to every Job.

A result over the ConfigMap limit (1 MiB) is ``result_too_large``, never truncated.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from runner import contract as C
from runner.errors import ConfigurationError, ResultTooLarge, ResultWriteError
from runner.result import ToolResult

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: ConfigMaps hold at most 1 MiB in total; leave room for the object's metadata.
MAX_RESULT_BYTES = 1024 * 1024 - 16 * 1024
_RETRIES = 3


class ConfigMapSink:
    rewritable = True

    def __init__(self, name: str, sa_dir: Path = SA_DIR) -> None:
        self.configmap = name
        self.name = f"configmap:{name}"
        self._sa_dir = sa_dir
        self._session: Any = None
        # Checked up front: outside a Pod this is a configuration error (exit 2), not a
        # failed write.
        self._url, self._token, self._ca = self._endpoint()

    async def prepare(self) -> None:
        return None  # the address and token were checked when the sink was built

    async def write(self, result: ToolResult) -> None:
        payload = result.to_json()
        size = len(payload.encode())
        if size > MAX_RESULT_BYTES:
            raise ResultTooLarge(
                f"writing the result to ConfigMap {self.configmap}: the result is {size} bytes, "
                f"over the ConfigMap limit of {MAX_RESULT_BYTES}; drain a smaller batch"
            )
        await asyncio.to_thread(self._patch, payload)

    async def close(self) -> None:
        if self._session is not None:
            self._session.close()

    def _patch(self, payload: str) -> None:
        import requests

        url, token, ca = self._url, self._token, self._ca
        if self._session is None:
            self._session = requests.Session()
        what = f"writing the result to ConfigMap {self.configmap}"
        for attempt in range(_RETRIES):
            try:
                r = self._session.patch(
                    url,
                    json={"data": {C.RESULT_KEY: payload}},
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/merge-patch+json",
                    },
                    verify=ca,
                    timeout=10,
                )
            except requests.RequestException as e:
                if attempt + 1 == _RETRIES:
                    raise ResultWriteError(f"{what} failed: {type(e).__name__}") from e
                time.sleep(0.2 * 2**attempt)
                continue
            if r.status_code < 300:
                return
            if (r.status_code < 500 and r.status_code != 429) or attempt + 1 == _RETRIES:
                raise ResultWriteError(f"{what} failed: HTTP {r.status_code} {_reason(r)}")
            time.sleep(0.2 * 2**attempt)

    def _endpoint(self) -> tuple[str, str, str]:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        namespace = os.environ.get(C.ENV_NAMESPACE) or _read(self._sa_dir / "namespace")
        token = _read(self._sa_dir / "token")
        if not host or not token or not namespace:
            raise ConfigurationError(
                f"--sink {self.name} works only inside a Kubernetes Pod with a service-account "
                "token (KUBERNETES_SERVICE_HOST and the token are missing)"
            )
        host = f"[{host}]" if ":" in host else host
        url = f"https://{host}:{port}/api/v1/namespaces/{namespace}/configmaps/{self.configmap}"
        return url, token, str(self._sa_dir / "ca.crt")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _reason(r: Any) -> str:
    try:
        return str(r.json().get("reason", ""))
    except ValueError:
        return ""
