"""Google Pub/Sub source: a bounded drain over the REST API with ``requests`` (docs/reference.md
§3).

Calls: ``:pull`` (fetch, never acks), ``:acknowledge`` (ack), ``:modifyAckDeadline`` (nack: the
deadline becomes ``nack_delay_ms`` rounded up to seconds, 0 = redeliver now). ``term`` — stop
redelivering a message that cannot be processed — is an acknowledge: Pub/Sub has no other way
to end redelivery (route poison messages with a dead-letter policy and nack them instead).

Where requests go (first match wins):
    tool ``endpoint``, the credential's ``endpoint``, ``$PUBSUB_EMULATOR_HOST``:
        ``host:port`` (no scheme) → the emulator over plain HTTP, no auth at all;
        ``https://...``           → that API root, with auth;
    otherwise the public API root, with auth.
Auth (not for the emulator): the credential's ``token``/``access_token`` as a bearer token; a
service-account or authorized-user key in the credential (``"type": ...``); with no ``auth`` at
all, Google Application Default Credentials through ``google-auth`` (stated in ``warnings``).

Drain (the emulator's pull blocks until a message arrives, so the client-side read timeout is
what bounds it): one blocking pull waits up to ``timeout_ms`` for the first messages; then
``returnImmediately`` pulls take what else is ready until ``batch`` is reached, a pull comes
back empty, or the trailing cap passes. A pull abandoned at its timeout closes its connection,
which cancels it on the server (verified on the emulator: a later message goes to the next
pull). Anything beyond ``batch`` the server sent anyway is released at once (deadline 0).

Errors: 404 → ``NotFoundError`` naming the subscription; 401/403 → ``AuthError``; 429 and 5xx,
refused connections and timeouts → ``ConnectionFailed``/``OperationTimeout``; any other 4xx →
``ExecutionError``. Messages carry the server's own text, never a token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from runner.codec import normalise_headers, payload_fields
from runner.credentials import load_alias
from runner.endpoints import check
from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    ExecutionError,
    NotFoundError,
    OperationTimeout,
    ToolpodError,
)
from runner.sources.base import DisposeOutcome, Disposition, Message, PollOptions

PUBLIC_API = "https://pubsub.googleapis.com/v1"
SCOPE = "https://www.googleapis.com/auth/pubsub"
#: Bound on TCP connection set-up, separate from the drain's own timeout.
CONNECT_TIMEOUT_S = 5.0
#: Bound on one acknowledge / modifyAckDeadline / returnImmediately pull.
CALL_TIMEOUT_S = 10.0
#: Below this, a blocking pull is not worth its race (a reply cut off by the read timeout leaves
#: its messages outstanding until their ack deadline): pull with returnImmediately instead.
MIN_BLOCKING_S = 0.25
#: Against the emulator, how often to ask for the first messages (see ``PubsubSource._first``).
EMULATOR_POLL_S = 0.05
#: After the first messages, keep taking ready ones for at most this long past the deadline.
TRAILING_CAP_S = 2.0
#: Ack ids per acknowledge / modifyAckDeadline request (well under the API's request size).
ACK_CHUNK = 500
MAX_ACK_DEADLINE_S = 600

Clock = Callable[[], float]


@dataclass(frozen=True)
class PubsubTarget:
    """Where and how to call: the API root and the auth (None for the emulator)."""

    api_root: str
    auth: str | Any | None  # a bearer token, google-auth Credentials, or None
    emulator: bool


# -- pure helpers ------------------------------------------------------------------------------


def api_root(endpoint: str | None) -> tuple[str, bool]:
    """``(API root, is the emulator)`` for an endpoint as users write it."""
    if not endpoint:
        return PUBLIC_API, False
    endpoint = endpoint.rstrip("/")
    if "://" not in endpoint:
        return f"http://{endpoint}/v1", True
    return endpoint if endpoint.endswith("/v1") else f"{endpoint}/v1", False


def to_message(received: Mapping[str, Any]) -> Message:
    """One ``ReceivedMessage`` of a pull response in the common envelope."""
    msg = received.get("message") or {}
    attributes = dict(msg.get("attributes") or {})
    fields = payload_fields(base64.b64decode(msg.get("data") or ""))
    return Message(
        id=str(msg.get("messageId", "")),
        data=fields["data"],
        encoding=fields.get("encoding"),
        headers=normalise_headers(attributes),
        attributes=attributes,
        metadata={
            "messageId": msg.get("messageId"),
            "publishTime": msg.get("publishTime"),
            "deliveryAttempt": received.get("deliveryAttempt"),
            "orderingKey": msg.get("orderingKey") or None,
        },
        handle=str(received.get("ackId", "")),
    )


def http_error(status: int, body: Any, what: str, subscription: str) -> ToolpodError:
    """The toolpod error for a non-2xx reply (``body``: the parsed JSON, or None)."""
    detail = _server_message(body) or f"HTTP {status}"
    if status == 404:
        return NotFoundError(f"{what}: subscription '{subscription}' does not exist ({detail})")
    if status in (401, 403):
        return AuthError(f"{what}: not allowed on subscription '{subscription}' ({detail})")
    if status == 429 or status >= 500:
        return ConnectionFailed(f"{what}: Pub/Sub is unavailable ({detail})")
    return ExecutionError(f"{what}: Pub/Sub refused the request ({detail})")


def _server_message(body: Any) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return str(body["error"].get("message", ""))[:300]
    return ""


def nack_deadline_s(delay_ms: int) -> int:
    """modifyAckDeadline seconds for a nack: rounded up, at most the API's 600 s."""
    return min(math.ceil(max(delay_ms, 0) / 1000), MAX_ACK_DEADLINE_S)


def chunks(items: Sequence[str], size: int = ACK_CHUNK) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- auth --------------------------------------------------------------------------------------


def resolve_target(tool: Any, credentials: Path, warn: Callable[[str], None]) -> PubsubTarget:
    """Endpoint and auth from the tool block, its credential alias and the environment."""
    cred = load_alias(credentials, tool.auth) if tool.auth else {}
    endpoint = tool.endpoint or cred.get("endpoint") or os.environ.get("PUBSUB_EMULATOR_HOST")
    if endpoint:
        _check_endpoint(str(endpoint), tool, cred)
    root, emulator = api_root(endpoint)
    if emulator:
        return PubsubTarget(root, None, True)
    if token := cred.get("token") or cred.get("access_token"):
        return PubsubTarget(root, str(token), False)
    if cred.get("type"):
        return PubsubTarget(root, _key_credentials(cred, tool.auth), False)
    if tool.auth:
        raise ConfigurationError(
            f"credential alias '{tool.auth}' has no token, access_token or Google key "
            '(a JSON key with "type"), and no emulator endpoint'
        )
    adc = default_credentials()
    warn("no auth given: using Google Application Default Credentials from the environment")
    return PubsubTarget(root, adc, False)


def _check_endpoint(endpoint: str, tool: Any, cred: Mapping[str, Any]) -> None:
    try:
        check(endpoint, "http", 443, userinfo=False)
    except ValueError as e:
        where = (
            f"credential '{tool.auth}' endpoint"
            if cred.get("endpoint")
            else "$PUBSUB_EMULATOR_HOST"
        )
        where = "tool.endpoint" if tool.endpoint else where
        raise ConfigurationError(f"Pub/Sub: {where}: {e}") from None


#: Google key types accepted from a credential alias, each loaded by its own constructor:
#: google-auth's generic loader would also accept external-account configurations that make it
#: run commands or fetch URLs named in the (Secret's) JSON.
KEY_TYPES = ("service_account", "authorized_user")


def _key_credentials(info: Mapping[str, Any], alias: str) -> Any:
    from google.auth import exceptions
    from google.oauth2 import credentials, service_account

    kind = info.get("type")
    if kind not in KEY_TYPES:
        raise ConfigurationError(
            f"credential alias '{alias}' has a Google key of type {kind!r}; "
            f"allowed: {', '.join(KEY_TYPES)}"
        )
    try:
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                dict(info), scopes=[SCOPE]
            )
        return credentials.Credentials.from_authorized_user_info(dict(info), scopes=[SCOPE])  # type: ignore[no-untyped-call]
    except (exceptions.GoogleAuthError, ValueError, KeyError) as e:
        # Only the alias and the library's reason: the key itself is secret.
        raise ConfigurationError(
            f"credential alias '{alias}' is not a usable Google key ({type(e).__name__})"
        ) from None


def default_credentials() -> Any:
    """Google Application Default Credentials, or ``AuthError`` when there are none."""
    import google.auth
    from google.auth import exceptions

    try:
        creds, _project = google.auth.default(scopes=[SCOPE])
    except exceptions.DefaultCredentialsError as e:
        raise AuthError(
            "Pub/Sub: no auth given and no Google Application Default Credentials found "
            "(set auth to a credential alias, or endpoint to an emulator)"
        ) from e
    return creds


def auth_headers(auth: str | Any | None, session: requests.Session) -> dict[str, str]:
    """The Authorization header; google-auth credentials refresh here when not valid."""
    if auth is None:
        return {}
    if isinstance(auth, str):
        return {"Authorization": f"Bearer {auth}"}
    if not auth.valid:
        _refresh(auth, session)
    return {"Authorization": f"Bearer {auth.token}"}


def _refresh(creds: Any, session: requests.Session) -> None:
    from google.auth import exceptions
    from google.auth.transport.requests import Request

    try:
        creds.refresh(Request(session))
    except exceptions.TransportError as e:
        raise ConnectionFailed("Pub/Sub: cannot reach the token endpoint to refresh auth") from e
    except exceptions.RefreshError as e:
        raise AuthError(f"Pub/Sub: Google credentials could not be refreshed ({e.args[0]})") from e


# -- the client --------------------------------------------------------------------------------


class PubsubSource:
    """One subscription, one ``requests.Session``; every blocking call runs in a thread."""

    supports_handles = True

    def __init__(self, target: PubsubTarget, subscription: str, clock: Clock = time.monotonic):
        self.target, self.subscription, self._clock = target, subscription, clock
        self._session = requests.Session()
        self._url = f"{target.api_root}/{subscription}"

    # drain

    async def poll(self, options: PollOptions) -> list[Message]:
        deadline = self._clock() + options.timeout_ms / 1000
        got = await self._first(options.batch, wait_s=options.timeout_ms / 1000)
        try:
            await self._pull_ready(
                got, options.batch, max(deadline, self._clock() + TRAILING_CAP_S)
            )
        except ToolpodError:
            await self._release(got)  # a failed drain hands back what it already holds
            raise
        await self._release(got[options.batch :])  # never more than batch
        return got[: options.batch]

    async def _first(self, batch: int, wait_s: float) -> list[Message]:
        """The first messages, waiting up to ``wait_s``.

        The emulator does not cancel a blocking pull whose client went away: given up at its
        timeout, the pull stays on the server and captures the next messages published, which
        the next drain then misses until their ack deadline. So against the emulator the wait
        is immediate pulls every ``EMULATOR_POLL_S``, none left outstanding.
        """
        if not self.target.emulator:
            return await self._pull(batch, wait_s)
        deadline = self._clock() + wait_s
        while True:
            got = await self._pull(batch, wait_s=None)
            left = deadline - self._clock()
            if got or left <= 0:
                return got
            await asyncio.sleep(min(EMULATOR_POLL_S, left))

    async def _pull_ready(self, got: list[Message], batch: int, cap: float) -> None:
        """Add what is ready right now until ``batch``, an empty pull, or ``cap``."""
        while got and len(got) < batch and self._clock() < cap:
            more = await self._pull(batch - len(got), wait_s=None)
            if not more:
                return
            got += more

    async def _release(self, messages: list[Message]) -> None:
        if not messages:
            return
        # best effort: if this fails too, they come back when their ack deadline passes
        with contextlib.suppress(ToolpodError):
            await self.dispose([m.handle for m in messages], "nack")

    async def _pull(self, max_messages: int, wait_s: float | None) -> list[Message]:
        """A blocking pull bounded by ``wait_s``, or (None) one that returns at once."""
        body: dict[str, Any] = {"maxMessages": max_messages}
        if wait_s is None or wait_s < MIN_BLOCKING_S:
            body["returnImmediately"] = True
            read_s = CALL_TIMEOUT_S
        else:
            read_s = wait_s
        try:
            reply = await self._call("pull", body, read_s)
        except OperationTimeout:
            if "returnImmediately" in body:
                raise
            return []  # nothing arrived in time: an empty drain is a success
        return [to_message(r) for r in reply.get("receivedMessages") or []]

    # dispose

    async def dispose(
        self, handles: Sequence[str], disposition: Disposition, *, delay_ms: int = 0
    ) -> DisposeOutcome:
        outcome = DisposeOutcome(requested=len(handles), disposed=0)
        for chunk in chunks(list(handles)):
            try:
                await self._settle(chunk, disposition, delay_ms)
                outcome.disposed += len(chunk)
            except ExecutionError:
                # One bad ack id fails the whole request (400): settle one by one to report
                # exactly which handles were refused.
                await self._settle_each(chunk, disposition, delay_ms, outcome)
        return outcome

    async def _settle_each(
        self, chunk: Sequence[str], disposition: Disposition, delay_ms: int, out: DisposeOutcome
    ) -> None:
        for handle in chunk:
            try:
                await self._settle([handle], disposition, delay_ms)
                out.disposed += 1
            except ExecutionError as e:
                out.errors.append(f"{handle[:120]}: {e.message}")

    async def _settle(
        self, ack_ids: Sequence[str], disposition: Disposition, delay_ms: int
    ) -> None:
        if disposition == "nack":
            body = {"ackIds": list(ack_ids), "ackDeadlineSeconds": nack_deadline_s(delay_ms)}
            await self._call("modifyAckDeadline", body, CALL_TIMEOUT_S)
        else:  # ack, and term (see the module docstring)
            await self._call("acknowledge", {"ackIds": list(ack_ids)}, CALL_TIMEOUT_S)

    # transport

    async def _call(self, method: str, body: Mapping[str, Any], read_s: float) -> Any:
        return await asyncio.to_thread(self._call_sync, method, body, read_s)

    def _call_sync(self, method: str, body: Mapping[str, Any], read_s: float) -> Any:
        what = f"{method} on subscription '{self.subscription}'"
        headers = auth_headers(self.target.auth, self._session)
        try:
            reply = self._session.post(
                f"{self._url}:{method}",
                json=body,
                headers=headers,
                timeout=(CONNECT_TIMEOUT_S, read_s),
            )
        except requests.ConnectTimeout as e:
            raise ConnectionFailed(f"{what}: no connection to {self._host()} in time") from e
        except requests.Timeout as e:
            raise OperationTimeout(f"{what}: no reply within {read_s:g}s") from e
        except requests.ConnectionError as e:
            raise ConnectionFailed(f"{what}: cannot reach {self._host()}") from e
        return self._parse(reply, what)

    def _parse(self, reply: requests.Response, what: str) -> Any:
        try:
            body = reply.json() if reply.content else {}
        except ValueError:
            body = None
        if not reply.ok:
            raise http_error(reply.status_code, body, what, self.subscription)
        return body if isinstance(body, Mapping) else {}

    def _host(self) -> str:
        return self.target.api_root.split("://", 1)[-1].split("/", 1)[0]

    async def close(self) -> None:
        self._session.close()


async def open_source(tool: Any, credentials: Path, warn: Callable[[str], None]) -> PubsubSource:
    """Open a drain on ``tool.subscription`` (``projects/<p>/subscriptions/<s>``)."""
    target = await asyncio.to_thread(resolve_target, tool, credentials, warn)
    return PubsubSource(target, tool.subscription)
