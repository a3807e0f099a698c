"""Thin I/O to the API server: JSON in, JSON out, errors translated once. No decisions here.

Requests go through the ``kubernetes`` client's ``ApiClient`` (its kubeconfig handling,
authentication and connection pool) but bodies stay plain dicts, the shape ``render`` builds
and ``outcome`` reads.

Failures are ``controller.errors`` classes: ``ApiUnreachable`` when no answer came (refused,
reset, TLS, timeout), ``api_error(status, ...)`` for a non-2xx answer; ``.transient`` ones
(no answer, 429, 5xx) are retried with backoff, a ``Conflict`` on create means the object
exists (the caller attaches). Every name and namespace is checked (``controller.names``)
before it becomes part of a URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from controller import names
from controller.errors import (
    ApiError,
    ApiUnreachable,
    Conflict,
    Gone,
    KubeconfigError,
    KubeError,
    NotFound,
    api_error,
)
from controller.watch import Relist, Transient

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
#: (connect, read) seconds of one request: an API server answers in milliseconds, and one that
#: accepts connections but never answers must not hold a caller for long.
REQUEST_TIMEOUT_S = (5.0, 20.0)


def path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """The URL path of a collection or one object; names Kubernetes would refuse never get
    here (``InvalidInput``), so no id can walk to another path."""
    base = _GROUPS.get(api_version, f"/apis/{api_version}")
    ns = names.namespace(namespace)
    p = f"{base}/namespaces/{quote(ns, safe='')}/{_PLURALS[kind]}"
    return f"{p}/{quote(names.object_name(name, f'{kind} name'), safe='')}" if name else p


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
        timeout: float | tuple[float, float] | None = REQUEST_TIMEOUT_S,
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
        except Exception as e:  # urllib3 / ssl / ApiException(status=0): no answer at all
            raise ApiUnreachable(f"cannot reach the API server {self.host}: {_why(e)}") from e
        if stream and resp.status < 300:
            return resp.response
        data = resp.read()
        if resp.status >= 300:
            raise _error(resp.status, data)
        try:
            return json.loads(data) if data else {}
        except ValueError:
            raise ApiUnreachable(f"the API server {self.host} answered with no JSON") from None

    @property
    def host(self) -> str:
        return str(getattr(self.api.configuration, "host", "") or "")

    def call(self, method: str, url: str, **kw: Any) -> Any:
        """``request`` with transient failures retried (capped exponential backoff)."""
        delay = 0.1
        for attempt in range(self.retries + 1):
            try:
                return self.request(method, url, **kw)
            except KubeError as e:
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
        except Conflict:
            pass
        meta = manifest["metadata"]
        url = path(manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"])
        return dict(self.call("GET", url)), False

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return dict(self.call("GET", path(api_version, kind, namespace, name)))
        except NotFound:
            return None

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
        except NotFound:
            return False

    def list(
        self, api_version: str, kind: str, ns: str, selector: str, *, retry: bool = True
    ) -> tuple[list[Obj], str]:
        send = self.call if retry else self.request
        out = send("GET", path(api_version, kind, ns), query=[("labelSelector", selector)])
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
            try:  # the informer backs off itself, and its caller wants the first error
                return self.list(api_version, kind, ns, selector, retry=False)
            except KubeError as e:  # kept as the cause: the tracker reports a refusal at once
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
            except Gone as e:
                raise Relist() from e
            except KubeError as e:
                raise Transient(str(e)) from e
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
        return api_error(status, str(body.get("reason", "")), str(body.get("message", "")))
    except (ValueError, AttributeError):
        return api_error(status, "", data.decode("utf-8", "replace")[:500])


def _why(e: BaseException) -> str:
    """The innermost cause of a failed request, in one line (urllib3 nests it)."""
    while True:
        inner = getattr(e, "reason", None) or e.__cause__ or e.__context__
        if not isinstance(inner, BaseException) or inner is e:
            break
        e = inner
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def api_client(kubeconfig: str | None = None, pool_size: int = 64) -> Any:
    """An ApiClient from a kubeconfig (or in-cluster config), with a pool sized for many
    concurrent invocations (the client's default of 4 serialises them). Raises
    ``KubeconfigError`` when there is no usable configuration; nothing is requested here."""
    from kubernetes import client

    cfg = client.Configuration()
    _configure(cfg, kubeconfig)
    cfg.connection_pool_maxsize = pool_size
    # One retry layer only (``Kube.call``, with backoff): urllib3's own would multiply the
    # request timeout for an API server that accepts connections and never answers.
    cfg.retries = 0
    return client.ApiClient(cfg)


def _configure(cfg: Any, kubeconfig: str | None) -> None:
    from kubernetes import config

    missing = kubeconfig and not any(Path(p).exists() for p in kubeconfig.split(os.pathsep))
    if missing:
        raise KubeconfigError(f"kubeconfig {kubeconfig}: no such file")
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=cfg
        )
        return
    except Exception as e:  # the loader raises whatever its YAML, base64 or file layer does
        if kubeconfig:
            raise KubeconfigError(f"kubeconfig {kubeconfig}: {_kubeconfig_problem(e)}") from None
        problem = _kubeconfig_problem(e)
    try:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except Exception:
        raise KubeconfigError(
            f"no usable kubeconfig ({problem}) and not running in a cluster: "
            "set --kubeconfig or KUBECONFIG"
        ) from None


def _kubeconfig_problem(e: BaseException) -> str:
    """Why a kubeconfig did not load, never its text (it holds tokens and keys)."""
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(e, OSError):
        return f"cannot read it ({e.strerror})"
    if isinstance(e, UnicodeError):
        return "not UTF-8 text"
    text = " ".join(str(e).split())
    known = ("Invalid kube-config", "does not exist", "not set", "Expected key", "Expected object")
    if any(k in text for k in known) and len(text) < 200 and "\n" not in str(e):
        return text
    return f"not a usable kubeconfig ({type(e).__name__})"
