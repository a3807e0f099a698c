"""Who is calling and what it may do, both answered by Kubernetes (docs/service.md).

    Authorization: Bearer <token> ─▶ TokenReview (audiences when configured) ─▶ the caller
    caller + namespace + verb     ─▶ SubjectAccessReview on ``invocations.toolpod.dev``

No token or a token the API server does not accept is 401, a denied verb 403; neither
creates anything, and the token never appears in a message or a log. Answers are cached
briefly (keyed by the token's sha256, not the token) so a burst costs one review, not one per
request. A caller names credential aliases only of its own namespace: a ServiceAccount of
another namespace (granted ``create`` there by a Role) must not borrow this namespace's
Secrets, unless it may read that Secret itself.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.k8s import Kube
from controller.service.errors import HttpError

GROUP, RESOURCE = "toolpod.dev", "invocations"
CACHE_S = 10.0
ANONYMOUS = "system:anonymous"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Caller:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)

    @property
    def namespace(self) -> str | None:
        """The namespace of a ServiceAccount caller (system:serviceaccount:NS:NAME)."""
        parts = self.username.split(":")
        is_sa = len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]
        return parts[2] if is_sa else None


NOBODY = Caller(ANONYMOUS)


class TtlCache:
    """Answers kept ``ttl`` seconds; concurrent askers of one key wait for one computation
    (a burst of requests with a new token is one TokenReview, not hundreds)."""

    def __init__(self, ttl: float, max_items: int = 10_000) -> None:
        self.ttl, self.max_items = ttl, max_items
        self._lock = threading.Lock()
        self._items: dict[Any, tuple[float, Any]] = {}
        self._pending: dict[Any, threading.Event] = {}

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                hit = self._items.get(key)
                if hit is not None and time.monotonic() - hit[0] < self.ttl:
                    return hit[1]
                pending = self._pending.get(key)
                if pending is None:
                    self._pending[key] = threading.Event()
                    break
            pending.wait(30)  # someone else computes it; then read their answer
        try:
            value = compute()
            with self._lock:
                if len(self._items) >= self.max_items:  # a flood of distinct tokens
                    self._items.clear()
                self._items[key] = (time.monotonic(), value)
            return value
        finally:
            with self._lock:
                self._pending.pop(key).set()


class Auth:
    def __init__(self, kube: Kube | None, audiences: tuple[str, ...] = ()) -> None:
        """``kube`` None: no authentication at all (``--no-auth``, local development)."""
        self.kube, self.audiences = kube, audiences
        self._tokens = TtlCache(CACHE_S)
        self._allowed = TtlCache(CACHE_S)

    @property
    def enabled(self) -> bool:
        return self.kube is not None

    def authenticate(self, header: str | None) -> Caller:
        if self.kube is None:
            return NOBODY
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpError(
                401,
                "unauthenticated",
                "no bearer token (Authorization: Bearer ...)",
                headers=_CHALLENGE,
            )
        caller = self._tokens.get(_digest(token), lambda: self._review(token.strip()))
        if not isinstance(caller, Caller):
            msg = "the bearer token was not accepted"
            raise HttpError(401, "unauthenticated", msg, headers=_CHALLENGE)
        return caller

    def authorize(self, caller: Caller, namespace: str, verb: str) -> None:
        if not self._allowed_to(caller, namespace, verb, RESOURCE, GROUP, None):
            raise HttpError(
                403,
                "forbidden",
                f"{caller.username} may not {verb} {RESOURCE}.{GROUP} in namespace {namespace}",
            )

    def may_use_secrets(self, caller: Caller, namespace: str, secrets: list[str]) -> None:
        """A caller names credential aliases of its own namespace only (or Secrets it may
        read itself)."""
        if self.kube is None or caller.namespace == namespace:
            return
        for name in secrets:
            if not self._allowed_to(caller, namespace, "get", "secrets", "", name):
                raise HttpError(
                    403,
                    "forbidden",
                    f"{caller.username} may not use the credential Secret {namespace}/{name}: "
                    "a caller names credential aliases of its own namespace only",
                    ["tool.auth"],
                )

    # -- reviews ---------------------------------------------------------------------------

    def _review(self, token: str) -> Caller | None:
        assert self.kube is not None
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = list(self.audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        url = "/apis/authentication.k8s.io/v1/tokenreviews"
        status = self.kube.call("POST", url, body=body).get("status") or {}
        if not status.get("authenticated"):
            return None
        user = status.get("user") or {}
        return Caller(
            str(user.get("username", "")),
            str(user.get("uid", "")),
            tuple(user.get("groups") or ()),
            dict(user.get("extra") or {}),
        )

    def _allowed_to(
        self, caller: Caller, ns: str, verb: str, resource: str, group: str, name: str | None
    ) -> bool:
        if self.kube is None:
            return True
        key = (caller, ns, verb, resource, group, name)
        return bool(self._allowed.get(key, lambda: self._sar(caller, *key[1:])))

    def _sar(
        self, caller: Caller, ns: str, verb: str, resource: str, group: str, name: str | None
    ) -> bool:
        assert self.kube is not None
        attrs = {"namespace": ns, "verb": verb, "group": group, "resource": resource}
        if name:
            attrs["name"] = name
        spec = {
            "user": caller.username,
            "uid": caller.uid,
            "groups": list(caller.groups),
            "extra": caller.extra,
            "resourceAttributes": attrs,
        }
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }
        url = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        return bool((self.kube.call("POST", url, body=body).get("status") or {}).get("allowed"))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
