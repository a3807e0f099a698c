"""Payload and header encoding shared by every tool and source (docs/reference.md §2 "Value
encoding", §3).

Writes: a string is stored as its UTF-8 bytes; any other JSON value as compact JSON.
Reads: UTF-8 text that parses as JSON becomes that value, other text stays a string, and bytes
that are not UTF-8 come back base64-encoded with ``encoding: base64`` beside them — never
silently emptied.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

JSON = Any


def encode_value(value: JSON) -> bytes:
    """Bytes to store for a JSON value written by a user."""
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def decode_payload(raw: bytes) -> tuple[JSON, str | None]:
    """``(value, None)`` for text or JSON bytes, ``(base64 text, "base64")`` for other bytes."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
    try:
        return json.loads(text), None
    except ValueError:
        return text, None


def payload_fields(raw: bytes, key: str = "data") -> dict[str, JSON]:
    """``{key: value}`` plus ``encoding: base64`` when the bytes were not UTF-8."""
    value, encoding = decode_payload(raw)
    fields: dict[str, JSON] = {key: value}
    if encoding:
        fields["encoding"] = encoding
    return fields


def b64decode_strict(text: str) -> bytes:
    """Decode base64, rejecting anything that is not canonical base64 (raises ``ValueError``)."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ValueError(f"not valid base64: {e}") from e


def normalise_headers(pairs: Iterable[tuple[str, str]] | Mapping[str, Any]) -> dict[str, Any]:
    """The normalised header channel: keys lowercased, one value a string, several a list.

    Accepts ``(key, value)`` pairs (repeated keys allowed, as NATS and Kafka deliver them) or a
    mapping whose values may already be lists.
    """
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    merged: dict[str, list[str]] = {}
    for key, value in items:
        values = value if isinstance(value, list) else [value]
        merged.setdefault(key.lower(), []).extend(_text(v) for v in values)
    return {k: v[0] if len(v) == 1 else v for k, v in merged.items()}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    return str(value)
