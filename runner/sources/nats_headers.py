"""Every value of a repeated NATS header (docs/reference.md §3), which nats-py's ``msg.headers``
drops.

nats-py parses a message's header block into a plain dict, so ``X-Multi: a`` and ``X-Multi: b``
arrive as ``{"X-Multi": "b"}``. The raw block is gone by the time a ``Msg`` exists, so this
module wraps the one connection's header parser: it returns the same dict, subclassed to carry
every ``(name, value)`` pair of the block in order. Messages from a connection that was not
wrapped (or with no headers) fall back to the dict's items.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

_CRLF = b"\r\n"

Pairs = list[tuple[str, str]]


class HeaderBlock(dict[str, str]):
    """nats-py's last-value dict plus ``pairs``: every header line of the raw block, in order."""

    pairs: Pairs


def keep_header_pairs(nc: Any) -> None:
    """Make the connection ``nc`` deliver ``HeaderBlock`` headers (instance-local, no global)."""
    parse: Callable[[bytes], Awaitable[dict[str, str] | None]] = nc._process_headers

    async def process(raw: bytes) -> dict[str, str] | None:
        parsed = await parse(raw)
        if not parsed:
            return parsed
        block = HeaderBlock(parsed)
        block.pairs = parse_pairs(raw)
        return block

    nc._process_headers = process


def parse_pairs(raw: bytes) -> Pairs:
    """``(name, value)`` for each line after the ``NATS/1.0`` status line, as nats-py reads one
    line: split at the first colon, both sides trimmed, names with whitespace skipped."""
    pairs: Pairs = []
    for line in raw.split(_CRLF)[1:]:
        name, sep, value = line.partition(b":")
        key = name.strip().decode("ascii", "replace")
        if sep and key and not any(c.isspace() or c == "\ufffd" for c in key):
            pairs.append((key, value.strip().decode("utf-8", "replace")))
    return pairs


def header_pairs(headers: Mapping[str, str] | None) -> Pairs:
    """Every header of a message: the raw block's pairs when kept, else the dict's items."""
    if isinstance(headers, HeaderBlock):
        return list(headers.pairs)
    return list((headers or {}).items())


def grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Names as sent (case kept): one value a string, several a list (the raw ``attributes``)."""
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in values.items()}
