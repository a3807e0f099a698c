"""The ``nats-kv:BUCKET`` sink: the result under key = invocation id in a KV bucket.

The bucket must exist (the controller or the chart creates it with the retention it wants).
A result larger than the server's max_payload is an explicit ``result_too_large`` error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import ConfigurationError, ResultTooLarge, ResultWriteError, ToolpodError
from runner.natsconn import connect, resolve_target, translate
from runner.result import ToolResult

if TYPE_CHECKING:
    from nats.aio.client import Client


class NatsKvSink:
    rewritable = True

    def __init__(self, bucket: str, alias: str | None, credentials: Path) -> None:
        if not alias:
            raise ConfigurationError(
                f"--sink nats-kv:{bucket} needs --sink-auth ALIAS (the NATS credential to use)"
            )
        self.bucket, self.name = bucket, f"nats-kv:{bucket}"
        self._target = resolve_target({}, alias, credentials)
        self._nc: Client | None = None

    async def prepare(self) -> None:
        """Connect and find the bucket before the invocation acts: a kv_put must not succeed
        and then fail on the sink (a missing bucket is permanent, exit 2; no server, exit 4)."""
        from nats.js.errors import BucketNotFoundError

        what = f"--sink {self.name}"
        try:
            self._nc = await connect(self._target, what)
            await self._nc.jetstream().key_value(self.bucket)
        except BucketNotFoundError:
            raise ConfigurationError(f"{what}: the bucket does not exist") from None
        except ToolpodError as e:
            raise _write_error(e) from e
        except Exception as e:
            raise ResultWriteError(translate(e, what).message) from e

    async def write(self, result: ToolResult) -> None:
        what = f"writing the result to KV bucket '{self.bucket}'"
        payload = result.to_json().encode()
        try:
            if self._nc is None:
                self._nc = await connect(self._target, what)
            limit = self._nc.max_payload
            if len(payload) > limit:
                raise ResultTooLarge(
                    f"{what}: the result is {len(payload)} bytes, over the server's max_payload "
                    f"{limit}; drain a smaller batch or use object_get for large objects"
                )
            kv = await self._nc.jetstream().key_value(self.bucket)
            await kv.put(result.invocation_id, payload)
        except ToolpodError as e:
            raise _write_error(e) from e
        except Exception as e:
            raise ResultWriteError(translate(e, what).message) from e

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()


def _write_error(e: ToolpodError) -> ResultWriteError:
    return e if isinstance(e, ResultWriteError) else ResultWriteError(e.message)
