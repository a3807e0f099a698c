"""Thin I/O to the API server: JSON in, JSON out, errors translated once. No decisions here.

Requests go through the ``kubernetes`` client's ``ApiClient`` (its kubeconfig handling,
authentication and connection pool) but bodies stay plain dicts, the shape ``render`` builds
and ``outcome`` reads.

    ApiError(status, reason, message)      any non-2xx answer or a failed connection
      .transient  429, 5xx, status 0 (connection) — worth retrying with backoff
      .status == 409 on create             AlreadyExists: the caller attaches
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from controller.watch import Gone, Transient

Obj = dict[str, Any]

_PLURALS = {
    "Job": "jobs",
    "Pod": "pods",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles",
    "RoleBinding": "rolebindings",
}
_GROUPS = {"v1": "/api/v1"}
WATCH_TIMEOUT_S = 240


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    @property
    def transient(self) -> bool:
        return self.status in (0, 429) or self.status >= 500


def path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    base = _GROUPS.get(api_version, f"/apis/{api_version}")
    p = f"{base}/namespaces/{quote(namespace)}/{_PLURALS[kind]}"
    return f"{p}/{quote(name)}" if name else p


class Kube:
    """The few calls the controller makes, with transient errors retried (not 4xx)."""

    def __init__(
        self,
        api_client: Any,
        *,
        retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api_client
        self.retries, self.sleep = retries, sleep
        self._streams: set[Any] = set()

    def close(self) -> None:
        """Break open watch streams (their threads then see ``stop`` and end)."""
        for resp in list(self._streams):
            with contextlib.suppress(Exception):
                resp.shutdown()

    # -- one request --------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | tuple[float, float] | None = 30,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        params = self.api.param_serialize(
            method,
            url,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            resp = self.api.call_api(*params, _request_timeout=timeout)
        except Exception as e:  # urllib3 / ssl / ApiException(status=0)
            raise ApiError(getattr(e, "status", 0) or 0, type(e).__name__, str(e)) from e
        if stream and resp.status < 300:
            return resp.response
        data = resp.read()
        if resp.status >= 300:
            raise _error(resp.status, data)
        return json.loads(data) if data else {}

    def call(self, method: str, url: str, **kw: Any) -> Any:
        """``request`` with transient failures retried (capped exponential backoff)."""
        delay = 0.1
        for attempt in range(self.retries + 1):
            try:
                return self.request(method, url, **kw)
            except ApiError as e:
                if not e.transient or attempt == self.retries:
                    raise
                self.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    # -- objects -------------------------------------------------------------------------

    def create(self, manifest: Obj) -> Obj:
        meta = manifest["metadata"]
        url = path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        return dict(self.call("POST", url, body=manifest))

    def create_or_get(self, manifest: Obj) -> tuple[Obj, bool]:
        """(object, created): a 409 means it exists already, which is what we wanted."""
        try:
            return self.create(manifest), True
        except ApiError as e:
            if e.status != 409:
                raise
        meta = manifest["metadata"]
        url = path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        return dict(self.call("GET", url)), False

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return dict(self.call("GET", path(api_version, kind, namespace, name)))
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    def merge_patch(self, api_version: str, kind: str, ns: str, name: str, patch: Obj) -> Obj:
        url = path(api_version, kind, ns, name)
        ct = "application/merge-patch+json"
        return dict(self.call("PATCH", url, body=patch, content_type=ct))

    def delete(self, api_version: str, kind: str, ns: str, name: str) -> bool:
        """Delete with Background propagation (GC takes the Pods and owned objects)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        try:
            self.call("DELETE", path(api_version, kind, ns, name), body=body)
            return True
        except ApiError as e:
            if e.status == 404:
                return False
            raise

    def list(self, api_version: str, kind: str, ns: str, selector: str) -> tuple[list[Obj], str]:
        out = self.call("GET", path(api_version, kind, ns), query=[("labelSelector", selector)])
        return list(out.get("items") or []), str(out["metadata"]["resourceVersion"])

    def logs(self, ns: str, pod: str, container: str) -> str:
        url = f"{path('v1', 'Pod', ns, pod)}/log"
        resp = self.request("GET", url, query=[("container", container)], stream=True)
        try:
            return bytes(resp.data).decode("utf-8", "replace")
        finally:
            resp.release_conn()

    # -- watches (for controller.watch.Informer) ----------------------------------------------

    def list_fn(self, api_version: str, kind: str, ns: str, selector: str) -> Callable[..., Any]:
        def list_() -> tuple[list[Obj], str]:
            try:
                return self.list(api_version, kind, ns, selector)
            except ApiError as e:
                raise Transient(str(e)) from e

        return list_

    def watch_fn(
        self, api_version: str, kind: str, ns: str, selector: str
    ) -> Callable[[str], Iterator[Obj]]:
        def watch(rv: str) -> Iterator[Obj]:
            query = [
                ("labelSelector", selector),
                ("watch", "true"),
                ("resourceVersion", rv),
                ("allowWatchBookmarks", "true"),
                ("timeoutSeconds", str(WATCH_TIMEOUT_S)),
            ]
            url = path(api_version, kind, ns)
            try:
                resp = self.request(
                    "GET", url, query=query, stream=True, timeout=(10, WATCH_TIMEOUT_S + 30)
                )
            except ApiError as e:
                raise (Gone() if e.status == 410 else Transient(str(e))) from e
            self._streams.add(resp)
            try:
                yield from _lines(resp)
            except Exception as e:  # a broken stream: reconnect from the last version seen
                raise Transient(f"watch stream broke: {e}") from e
            finally:
                self._streams.discard(resp)
                resp.release_conn()

        return watch


def _lines(resp: Any) -> Iterator[Obj]:
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)


def _error(status: int, data: bytes) -> ApiError:
    try:
        body = json.loads(data)
        return ApiError(status, str(body.get("reason", "")), str(body.get("message", "")))
    except ValueError:
        return ApiError(status, "", data.decode("utf-8", "replace")[:500])


def api_client(kubeconfig: str | None = None, pool_size: int = 64) -> Any:
    """An ApiClient from a kubeconfig (or in-cluster config), with a pool sized for many
    concurrent invocations (the client's default of 4 serialises them)."""
    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=cfg
        )
    except Exception:
        if kubeconfig:
            raise
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    cfg.connection_pool_maxsize = pool_size
    return client.ApiClient(cfg)
