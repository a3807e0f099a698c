"""docs/reference.md §2 value encoding, kv_keys glob → subject filter, and credential resolution (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runner.codec import decode_payload, encode_value, normalise_headers
from runner.errors import ConfigurationError
from runner.natsconn import resolve_target
from runner.sources.nats_headers import parse_pairs
from runner.tools.nats_kv import subject_filter


@pytest.mark.parametrize(
    ("value", "stored"),
    [("plain text", b"plain text"), ({"a": 1}, b'{"a":1}'), ([1, "x"], b'[1,"x"]'),
     (42, b"42"), (None, b"null"), (True, b"true"), ("ünï", "ünï".encode())],
)
def test_writes_store_strings_as_utf8_and_other_values_as_compact_json(value: Any, stored: bytes) -> None:
    assert encode_value(value) == stored


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [(b'{"a":1}', ({"a": 1}, None)), (b"hello", ("hello", None)), (b"42", (42, None)),
     (b"", ("", None)), (b"\xff\xfe\x00", ("//4A", "base64"))],
)
def test_reads_parse_json_else_text_else_base64(raw: bytes, decoded: tuple[Any, Any]) -> None:
    assert decode_payload(raw) == decoded


def test_headers_are_lowercased_and_repeated_keys_become_lists() -> None:
    pairs = [("X-Kind", "order"), ("x-kind", "refund"), ("Trace", b"abc"), ("Bin", b"\xff")]
    assert normalise_headers(pairs) == {"x-kind": ["order", "refund"], "trace": "abc", "bin": "/w=="}


@pytest.mark.parametrize(
    ("pattern", "server_filter"),
    [("*", ">"), ("orders.*", "orders.>"), ("orders.eu.k1", "orders.eu.k1"),
     ("orders.2024*", "orders.>"), ("ord*", ">"), ("a.b.?", "a.b.>"), ("a.[xy].c", "a.>")],
)
def test_glob_patterns_map_to_the_narrowest_server_side_filter(pattern: str, server_filter: str) -> None:
    assert subject_filter(pattern) == server_filter


def creds(tmp_path: Path, **cred: Any) -> Path:
    (tmp_path / "main").write_text(json.dumps(cred))
    return tmp_path


def test_credential_keys_accept_noetl_aliases(tmp_path: Path) -> None:
    d = creds(tmp_path, nats_url="nats://h:4223", nats_user="u", nats_password="p")
    t = resolve_target({}, "main", d)
    assert (t.server, t.user, t.password, t.token) == ("nats://h:4223", "u", "p", None)


def test_explicit_fields_override_the_credential(tmp_path: Path) -> None:
    d = creds(tmp_path, url="nats://h:4222", user="u", password="p")
    t = resolve_target({"url": "nats://other:5222", "user": "me"}, "main", d)
    assert (t.server, t.user, t.password) == ("nats://other:5222", "me", "p")


def test_a_token_takes_precedence_over_user_and_password(tmp_path: Path) -> None:
    d = creds(tmp_path, url="nats://h", user="u", password="p", token="t")
    t = resolve_target({}, "main", d)
    assert (t.token, t.user, t.password) == ("t", None, None)


def test_user_and_password_in_the_url_are_used_and_kept_out_of_the_server(tmp_path: Path) -> None:
    t = resolve_target({"url": "nats://al%40ice:p%3Ass@h:4000"}, None, tmp_path)
    assert (t.server, t.user, t.password) == ("nats://h:4000", "al@ice", "p:ss")
    assert "p:ss" not in repr(t)


def test_there_is_no_default_connection(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="there is no default server"):
        resolve_target({}, None, tmp_path)


def test_a_missing_alias_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"credential alias 'nope' not found: no file nope in"):
        resolve_target({}, "nope", tmp_path)


def test_a_broken_credential_file_does_not_echo_its_content(tmp_path: Path) -> None:
    (tmp_path / "main").write_text('{"password": "hunter2",')
    with pytest.raises(ConfigurationError) as err:
        resolve_target({}, "main", tmp_path)
    assert "hunter2" not in err.value.message


@pytest.mark.parametrize("alias", ["../etc/passwd", "a/b", ".hidden"])
def test_aliases_cannot_escape_the_credentials_directory(tmp_path: Path, alias: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid credential alias"):
        resolve_target({}, alias, tmp_path)


@pytest.mark.parametrize(
    ("block", "pairs"),
    [
        (b"NATS/1.0\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n", [("X-Multi", "a"), ("X-Multi", "b")]),
        (b"NATS/1.0\r\nA:1\r\nB:\t two words \r\n\r\n", [("A", "1"), ("B", "two words")]),
        (b"NATS/1.0\r\nUrl: http://x:1/y\r\n\r\n", [("Url", "http://x:1/y")]),
        (b"NATS/1.0\r\nno colon\r\nBad Name: v\r\n\xff: v\r\nOk: \xff\r\n\r\n", [("Ok", "\ufffd")]),
        (b"NATS/1.0 408 Request Timeout\r\n\r\n", []),
    ],
)
def test_the_raw_nats_header_block_keeps_every_line(block: bytes, pairs: list[tuple[str, str]]) -> None:
    """nats-py's dict keeps the last value of a repeated name; the block keeps them all."""
    assert parse_pairs(block) == pairs
