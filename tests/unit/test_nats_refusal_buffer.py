"""A full NATS server's ``-ERR`` that nats-py left unread in its reader's buffer (it raised the
connection reset first) still classifies the failure: the reason, not "cannot connect"."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from runner.errors import ConnectionFailed
from runner.natsrefusal import Refusals, refusal

CASES = [
    # what nats-py's reader still holds                          the refusal kept
    (b"-ERR 'maximum connections exceeded'\r\n",                 "maximum connections exceeded"),
    (b"+OK\r\n-ERR 'Maximum Account Active Connections Exceeded'\r\n", "Maximum Account Active Connections Exceeded"),
    (b"-ERR 'something new'\r\n",                                None),
    (b"",                                                        None),
]


@pytest.mark.parametrize(("held", "reason"), CASES)
def test_a_reset_while_connecting_is_classified_by_the_unread_err(held: bytes, reason: str | None) -> None:
    reader = SimpleNamespace(_buffer=bytearray(held))
    nc = SimpleNamespace(_transport=SimpleNamespace(_io_reader=reader, close=lambda: None), is_connecting=False)
    seen = Refusals(nc)
    asyncio.run(seen.record(ConnectionResetError("Connection lost")))
    found = refusal(seen.first)
    assert (found.reason if found else None) == reason
    if found:
        assert found.kind is ConnectionFailed  # exit 3: retry when connections free up
