"""Results in NATS KV buckets (``result.sink: nats_kv``): one watcher per bucket, one read as
the fallback.

The runner puts its ToolResult under key = invocation id. Every Job the tracker sees that
writes to a bucket makes sure a watcher for (bucket, credential alias) runs; all invocations
writing there share it::

    ensure(bucket, alias) ─▶ [one thread, one asyncio loop for all buckets]
        credential: the alias's Secret, read when (re)connecting ─▶ connect ─▶
        kv.watch(">", last value per key) ─▶ on_value(bucket, key, text) ─▶ ... (until stopped)
        connection lost · bucket missing · Secret missing ─▶ log, back off (capped), start
        again: a new watch delivers the last value of every key, so no result is missed

A drain's runner writes its record twice (before and after the ack); the watcher delivers both
in order and ``outcome.decide`` picks the one the runner's termination message names. When the
watcher has not caught up (or cannot connect) the executor reads the key once with ``read``.

The credential is parsed from the Secret's bytes in memory (no file), and never logged;
connection errors are reported through ``runner.natsconn``'s translation, which shows the
server but not the userinfo.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from controller.k8s import Kube
from controller.settings import Settings
from runner.errors import ConfigurationError, OperationTimeout, ToolpodError

if TYPE_CHECKING:
    from runner.natsconn import NatsTarget

logger = logging.getLogger("toolpod.controller")

Bucket = tuple[str, str]
CONNECTION_NAME = "toolpod-controller"
#: on_value(bucket, key, text): a value the watcher saw (called on the watcher's thread).
OnValue = Callable[[str, str, str], None]
#: credential(alias) -> where and as whom to connect (blocking: reads a Secret).
Credential = Callable[[str], "NatsTarget"]


def credential_from_secret(kube: Kube, settings: Settings) -> Credential:
    """The NATS target for a credential alias, from the Secret ``settings`` maps it to."""

    def target(alias: str) -> NatsTarget:
        from runner.credentials import MAX_CREDENTIAL_BYTES, parse_credential
        from runner.document import read_bounded
        from runner.natsconn import target_from

        ref = settings.secret_for(alias)
        secret = kube.get("v1", "Secret", settings.namespace, ref.name) or {}
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise ConfigurationError(
                f"credential alias '{alias}': Secret {settings.namespace}/{ref.name} with key "
                f"'{ref.key}' is needed to read results from NATS KV"
            )
        what = f"credential alias '{alias}' (Secret {settings.namespace}/{ref.name})"
        text = read_bounded(io.BytesIO(base64.b64decode(raw)), what, MAX_CREDENTIAL_BYTES)
        return target_from({}, parse_credential(text, what), alias)

    return target


def read(credential: Credential, bucket: str, alias: str, key: str) -> str | None:
    """The value under ``key`` read directly (None when there is none), on a loop of its own
    (``KvWatchers.read`` uses the watchers' loop). Raises ToolpodError when the bucket cannot
    be reached."""
    return asyncio.run(_get(credential(alias), bucket, key))


async def _get(target: NatsTarget, bucket: str, key: str) -> str | None:
    from nats.js.errors import KeyNotFoundError

    from runner.natsconn import session, translate

    what = f"reading result {key} from KV bucket '{bucket}'"
    async with session(target, what, CONNECTION_NAME) as (_nc, js):
        try:
            entry = await (await js.key_value(bucket)).get(key)
        except KeyNotFoundError:
            return None
        except Exception as e:
            raise translate(e, what, target.server) from e
        return (entry.value or b"").decode(errors="replace")


class KvWatchers:
    """One watcher per (bucket, alias), on one background thread with its own event loop."""

    def __init__(
        self,
        credential: Credential,
        on_value: OnValue,
        *,
        backoff_s: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.credential = credential
        self._on_value = on_value
        self._backoff_s = backoff_s
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread()
        self._tasks: dict[Bucket, asyncio.Task[None]] = {}
        #: Set once a bucket's watcher delivered the values present when it (re)started.
        self.synced: dict[Bucket, threading.Event] = {}
        #: Values delivered so far, per bucket (what a test or a metric reads).
        self.delivered: dict[Bucket, int] = {}

    def ensure(self, bucket: str, alias: str) -> None:
        """Start the watcher of ``bucket`` (as ``alias``) unless it runs already. Never blocks."""
        key = (bucket, alias)
        with self._lock:
            if key in self.synced:
                return
            self.synced[key] = threading.Event()
            self.delivered[key] = 0
            loop = self._start_loop()
        loop.call_soon_threadsafe(self._spawn, key)

    def read(self, bucket: str, alias: str, key: str, timeout: float = 30.0) -> str | None:
        """``read`` on the watchers' own event loop when it runs (one loop, one set of
        connections' machinery for the process), else on a loop of its own."""
        target = self.credential(alias)  # blocking (a Secret): on the caller's thread
        with self._lock:
            loop = self._loop
        if loop is None:
            return asyncio.run(_get(target, bucket, key))
        future = asyncio.run_coroutine_threadsafe(_get(target, bucket, key), loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            what = f"reading result {key} from KV bucket '{bucket}'"
            raise OperationTimeout(f"{what}: no answer within {timeout:g}s") from None

    def wait_synced(self, bucket: Bucket, timeout: float) -> bool:
        """Wait for a watcher still delivering the values its bucket held when it started:
        True when it just finished; False when it was done already, is not running, or did
        not finish within ``timeout``."""
        event = self.synced.get(bucket)
        if event is None or event.is_set():
            return False
        return event.wait(timeout)

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="toolpod-kv-watch", daemon=True
            )
            self._thread.start()
        return self._loop

    def _spawn(self, key: Bucket) -> None:
        self._tasks[key] = asyncio.get_running_loop().create_task(self._watch_forever(key))

    def stop(self) -> None:
        """Stop every watcher and close their connections and the loop."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shutdown() -> None:
            # The watchers first, so each closes its connection; then whatever nats-py left
            # (heartbeat checks of the ordered consumers), so the loop closes with no task.
            for group in (list(self._tasks.values()), None):
                tasks = group or [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                loop.close()

    async def _watch_forever(self, key: Bucket) -> None:
        bucket, alias = key
        delay = self._backoff_s[0]
        while True:
            try:
                target = await asyncio.get_running_loop().run_in_executor(
                    None, self.credential, alias
                )
                await self._watch(key, target)
                message, delay = "the connection was lost", self._backoff_s[0]
            except asyncio.CancelledError:
                raise
            except Exception as e:
                message = e.message if isinstance(e, ToolpodError) else f"{type(e).__name__}: {e}"
            logger.warning(
                "watching results in KV bucket '%s': %s; retrying in %.1fs", bucket, message, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_s[1])

    async def _watch(self, key: Bucket, target: NatsTarget) -> None:
        """Deliver every value of the bucket until the connection is lost."""
        from nats.errors import TimeoutError as NatsTimeout

        from runner.natsconn import session, translate

        bucket, _alias = key
        what = f"watching results in KV bucket '{bucket}'"
        # The runner's connection (no reconnect loop): a lost server ends the watch, and the
        # caller starts a fresh one, which re-delivers the last value of every key.
        async with session(target, what, CONNECTION_NAME) as (nc, js):
            try:
                kv = await js.key_value(bucket)
                watcher = await kv.watch(">", ignore_deletes=True)
            except Exception as e:
                raise translate(e, what, target.server) from e
            try:
                while nc.is_connected:
                    try:
                        entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                    except NatsTimeout:
                        continue
                    if entry is None:  # the values present at the start are all delivered
                        self.synced[key].set()
                        continue
                    self.delivered[key] += 1
                    text = (entry.value or b"").decode(errors="replace")
                    self._on_value(bucket, entry.key, text)
            finally:
                await _stop_quietly(watcher)


async def _stop_quietly(watcher: object) -> None:
    try:
        await asyncio.wait_for(watcher.stop(), timeout=2.0)  # type: ignore[attr-defined]
    except Exception:  # the connection is gone already: nothing left to unsubscribe
        return
