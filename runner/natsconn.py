"""One NATS connection per invocation: resolve where and how to connect, connect, translate.

Resolution order for each setting: the tool block's explicit field, then the credential behind
``auth``, then user:password embedded in the URL. A token wins over user/password. There is no
default server: without ``auth`` or ``url`` the invocation is a configuration error.

Every nats-py exception is translated here (``translate``), so callers only see
``runner.errors`` types and no message ever carries a password, a token or a URL's userinfo.
A connection the server closed with an ``-ERR`` is classified by that ``-ERR``
(``runner.natsrefusal``), never as "cannot connect".
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

from runner import termination
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
from runner.natsrefusal import Refusals, refusal

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

_KEYS = {
    "url": ("url", "nats_url"),
    "user": ("user", "username", "nats_user"),
    "password": ("password", "nats_password"),
    "token": ("token", "nats_token"),
}
CONNECT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class NatsTarget:
    """Where and as whom to connect. ``server`` never contains userinfo (safe to show)."""

    server: str
    user: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never show the secrets, even in a debugger or traceback
        return f"NatsTarget(server={self.server!r}, user={self.user!r})"


def _pick(source: Mapping[str, Any], name: str) -> str | None:
    for key in _KEYS[name]:
        value = source.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def explicit_fields(tool: Any) -> dict[str, str | None]:
    """The connection fields a tool block set explicitly (secrets unwrapped for the client)."""
    password, token = getattr(tool, "password", None), getattr(tool, "token", None)
    return {
        "url": getattr(tool, "url", None),
        "user": getattr(tool, "user", None),
        "password": password.get_secret_value() if password else None,
        "token": token.get_secret_value() if token else None,
    }


def resolve_target(explicit: Mapping[str, Any], alias: str | None, creds: Path) -> NatsTarget:
    """Merge explicit fields over the credential; split userinfo out of the URL."""
    return target_from(explicit, load_alias(creds, alias) if alias else {}, alias)


def target_from(
    explicit: Mapping[str, Any], cred: Mapping[str, Any], alias: str | None
) -> NatsTarget:
    """Where and as whom to connect, from explicit fields over a credential already read (the
    controller reads its credentials from Secrets, with no file in between)."""
    merged = {n: _pick(explicit, n) or _pick(cred, n) for n in _KEYS}
    url = merged["url"]
    if not url:
        where = f"credential '{alias}' has no url" if alias else "no auth alias and no url given"
        raise ConfigurationError(f"nats connection: {where}; there is no default server")
    where = "tool.url" if _pick(explicit, "url") else f"credential '{alias}' url"
    try:
        parts = check(url, "nats", 4222)
    except ValueError as e:
        raise ConfigurationError(f"nats connection: {where}: {e}") from None
    if parts.scheme not in ("nats", "tls", "ws", "wss"):
        raise ConfigurationError(
            f"nats connection: {where} must look like nats://host:4222 "
            f"(got scheme {parts.scheme[:20]!r})"
        )
    server = parts.address
    user = merged["user"] or (unquote(parts.username) if parts.username else None)
    password = merged["password"] or (unquote(parts.password) if parts.password else None)
    if merged["token"]:
        return NatsTarget(server, token=merged["token"])
    if user and not password and not merged["user"]:
        return NatsTarget(server, token=user)  # nats://TOKEN@host, as the nats tools read it
    return NatsTarget(server, user=user, password=password)


def _import_nats(server: str) -> Any:
    """Import nats-py without its optional websocket transport unless ws:// is in use.

    nats-py imports aiohttp when it is installed (the kubernetes client installs it), which
    costs ~100 ms of the runner's cold start for a transport a nats:// URL never uses.
    """
    if server.startswith(("ws://", "wss://")) or "aiohttp" in sys.modules:
        import nats
    else:
        sys.modules["aiohttp"] = None  # type: ignore[assignment]  # makes `import aiohttp` fail
        try:
            import nats
        finally:
            del sys.modules["aiohttp"]
    return nats


async def connect(target: NatsTarget, what: str, name: str = "toolpod-runner") -> Client:
    """Connect once, without reconnect loops: a Job that cannot connect should fail fast."""
    nats = _import_nats(target.server)
    # nats-py logs every error; we report ours once. An -ERR read while connecting reaches only
    # this callback (connect then raises NoServersError): it is kept to classify the failure.
    nc = nats.NATS()
    seen = Refusals(nc)
    try:
        # nats-py reads max_reconnect_attempts=0 as "forever" while connecting; one retry
        # after a short wait, and an outer bound, keep "server down" a fast exit 3.
        await asyncio.wait_for(
            nc.connect(
                servers=[target.server],
                user=target.user,
                password=target.password,
                token=target.token,
                connect_timeout=CONNECT_TIMEOUT_S,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                error_cb=seen.record,
                name=name,  # what `nats server report connections` shows
            ),
            timeout=2 * CONNECT_TIMEOUT_S + 1,
        )
    except Exception as e:
        seen.drop_attempt()
        raise translate(seen.first or e, what, target.server) from e
    return cast("Client", nc)


@asynccontextmanager
async def session(
    target: NatsTarget, what: str, name: str = "toolpod-runner"
) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A connection and its JetStream context, closed (and flushed) on exit."""
    nc = await connect(target, what, name)
    try:
        with termination.acknowledging():  # closing must not be cut
            yield nc, nc.jetstream(timeout=5.0)
    finally:
        await close_quietly(nc)


async def close_quietly(nc: Client) -> None:
    try:
        await asyncio.wait_for(nc.close(), timeout=2.0)
    except Exception:  # closing must never mask the operation's own outcome
        return


def translate(
    e: BaseException, what: str, server: str = "", nc: Client | None = None
) -> ToolpodError:
    """Map a nats-py exception to toolpod's hierarchy. ``what`` names operation and object.

    With ``nc``, an ``-ERR`` the server sent on that connection decides first: the operation
    that was pending then fails as closed or timed out, which would misname the cause."""
    from nats import errors as ne
    from nats.js import errors as jse

    at = f" at {server}" if server else ""
    refused = refusal(e) or (refusal(nc.last_error) if nc is not None else None)
    if refused is not None:
        return refused.error(what, f"the NATS server{at}")
    if isinstance(e, ToolpodError):
        return e
    text = str(e).lower()
    if "authorization" in text or "authentication" in text or "permissions violation" in text:
        return AuthError(f"{what}: the NATS server{at} rejected the credentials ({_reason(e)})")
    if isinstance(e, jse.BucketNotFoundError):
        return NotFoundError(f"{what}: bucket not found")
    if isinstance(e, jse.ObjectNotFoundError):
        return NotFoundError(f"{what}: object not found")
    if isinstance(e, jse.NotFoundError):
        return NotFoundError(f"{what}: not found ({_reason(e)})")
    if isinstance(e, (ne.NoRespondersError, jse.NoStreamResponseError)):
        return NotFoundError(
            f"{what}: no JetStream stream answers (no stream captures the subject,"
            " or JetStream is not enabled)"
        )
    # Timeouts first: they are OSErrors too, and a server that stopped answering is not one
    # that cannot be reached.
    if isinstance(e, (ne.TimeoutError, asyncio.TimeoutError, TimeoutError)):
        return OperationTimeout(f"{what}: the NATS server{at} did not answer in time")
    if isinstance(
        e, (ne.NoServersError, ConnectionRefusedError, OSError, ne.ConnectionClosedError)
    ):
        return ConnectionFailed(f"{what}: cannot connect to the NATS server{at} ({_reason(e)})")
    if isinstance(e, jse.APIError):
        return ExecutionError(f"{what}: JetStream refused the request ({_reason(e)})")
    return ExecutionError(f"{what}: {_reason(e)}")


def _reason(e: BaseException) -> str:
    from nats.js import errors as jse

    if isinstance(e, jse.APIError) and e.description:
        return f"{e.description}, code {e.err_code}" if e.err_code else str(e.description)
    return type(e).__name__ + (f": {e}" if str(e) else "")
