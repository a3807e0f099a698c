"""Pure parts of the Pub/Sub source: endpoints, envelope, error mapping, auth (no network).

The auth path is exercised with google-auth's own credential objects; nothing here opens a
socket.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from google.oauth2 import credentials as oauth2

from runner.errors import (
    AuthError,
    ConfigurationError,
    ConnectionFailed,
    ExecutionError,
    NotFoundError,
    ToolpodError,
)
from runner.sources import pubsub
from runner.sources.pubsub import PUBLIC_API

SUB = "projects/p1/subscriptions/orders"


@pytest.mark.parametrize(
    ("endpoint", "root", "emulator"),
    [
        (None, PUBLIC_API, False),
        ("127.0.0.1:8085", "http://127.0.0.1:8085/v1", True),
        ("localhost:8085/", "http://localhost:8085/v1", True),
        ("https://pubsub.example.test", "https://pubsub.example.test/v1", False),
        ("https://pubsub.example.test/v1", "https://pubsub.example.test/v1", False),
    ],
)
def test_endpoint_without_scheme_is_the_emulator(
    endpoint: str | None, root: str, emulator: bool
) -> None:
    assert pubsub.api_root(endpoint) == (root, emulator)


def _received(data: bytes, **message: Any) -> dict[str, Any]:
    return {
        "ackId": "ack-1",
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": "7",
            "publishTime": "2026-01-01T00:00:00Z",
            **message,
        },
    }


@pytest.mark.parametrize(
    ("raw", "data", "encoding"),
    [
        (b'{"order_id": 42}', {"order_id": 42}, None),
        (b"hello", "hello", None),
        (b"\xff\x00", "/wA=", "base64"),
    ],
)
def test_envelope_payloads(raw: bytes, data: Any, encoding: str | None) -> None:
    msg = pubsub.to_message(_received(raw))
    assert (msg.data, msg.encoding) == (data, encoding)


def test_envelope_fields() -> None:
    received = _received(b"{}", attributes={"X-Kind": "a", "x-kind": "b"}, orderingKey="k1")
    received["deliveryAttempt"] = 2
    msg = pubsub.to_message(received)
    assert msg.id == "7"
    assert msg.handle == "ack-1"
    assert msg.attributes == {"X-Kind": "a", "x-kind": "b"}
    assert msg.headers == {"x-kind": ["a", "b"]}
    assert msg.metadata == {
        "messageId": "7",
        "publishTime": "2026-01-01T00:00:00Z",
        "deliveryAttempt": 2,
        "orderingKey": "k1",
    }


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, NotFoundError),
        (401, AuthError),
        (403, AuthError),
        (429, ConnectionFailed),
        (503, ConnectionFailed),
        (400, ExecutionError),
    ],
)
def test_http_errors(status: int, error: type[ToolpodError]) -> None:
    body = {"error": {"code": status, "message": "server says no"}}
    e = pubsub.http_error(status, body, "pull on subscription", SUB)
    assert type(e) is error
    assert "server says no" in e.message
    if status == 404:
        assert SUB in e.message
        assert e.exit_code == 2


@pytest.mark.parametrize(("delay_ms", "seconds"), [(0, 0), (1, 1), (1500, 2), (10**7, 600)])
def test_nack_delay_is_rounded_up_and_capped(delay_ms: int, seconds: int) -> None:
    assert pubsub.nack_deadline_s(delay_ms) == seconds


# -- auth -----------------------------------------------------------------------------------------


def _tool(**fields: Any) -> Any:
    return SimpleNamespace(**{"auth": None, "endpoint": None, "subscription": SUB, **fields})


def _creds_dir(tmp_path: Path, **aliases: dict[str, Any]) -> Path:
    for name, value in aliases.items():
        (tmp_path / name).write_text(json.dumps(value))
    return tmp_path


def test_emulator_means_no_auth_even_with_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
    d = _creds_dir(tmp_path, ps={"token": "secret-token"})
    target = pubsub.resolve_target(_tool(auth="ps"), d, _no_warning)
    assert (target.api_root, target.auth, target.emulator) == (
        "http://127.0.0.1:8085/v1",
        None,
        True,
    )


@pytest.mark.parametrize("key", ["token", "access_token"])
def test_bearer_token_from_the_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    d = _creds_dir(tmp_path, ps={key: "tok-1"})
    target = pubsub.resolve_target(_tool(auth="ps"), d, _no_warning)
    assert pubsub.auth_headers(target.auth, requests.Session()) == {"Authorization": "Bearer tok-1"}


def test_credential_without_token_or_key_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    d = _creds_dir(tmp_path, ps={"user": "x", "password": "hunter2"})
    with pytest.raises(ConfigurationError, match="'ps'") as e:
        pubsub.resolve_target(_tool(auth="ps"), d, _no_warning)
    assert "hunter2" not in e.value.message


def test_authorized_user_key_in_the_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    d = _creds_dir(tmp_path, ps=_authorized_user())
    target = pubsub.resolve_target(_tool(auth="ps"), d, _no_warning)
    assert isinstance(target.auth, oauth2.Credentials)
    assert target.auth.refresh_token == "r-token"


def test_application_default_credentials_are_used_and_stated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No auth, no endpoint: ADC through google-auth (here from a key file, no network)."""
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps(_authorized_user()))
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    warnings: list[str] = []
    target = pubsub.resolve_target(_tool(), tmp_path, warnings.append)
    assert isinstance(target.auth, oauth2.Credentials)
    assert (target.api_root, target.emulator) == (PUBLIC_API, False)
    assert any("Application Default Credentials" in w for w in warnings)


def test_no_application_default_credentials_is_an_auth_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(AuthError, match="Application Default Credentials"):
        pubsub.resolve_target(_tool(), tmp_path, _no_warning)


def test_valid_google_credentials_give_their_token_without_refreshing() -> None:
    creds = oauth2.Credentials(token="ya29.valid")  # type: ignore[no-untyped-call]
    assert pubsub.auth_headers(creds, requests.Session()) == {"Authorization": "Bearer ya29.valid"}


def test_credentials_that_cannot_refresh_are_an_auth_error() -> None:
    """No token and nothing to refresh with: google-auth refuses before any network call."""
    with pytest.raises(AuthError, match="could not be refreshed"):
        pubsub.auth_headers(
            oauth2.Credentials(token=None),  # type: ignore[no-untyped-call]
            requests.Session(),
        )


def _authorized_user() -> dict[str, str]:
    return {
        "type": "authorized_user",
        "client_id": "c-id",
        "client_secret": "c-secret",
        "refresh_token": "r-token",
    }


def _no_warning(message: str) -> None:
    raise AssertionError(f"unexpected warning: {message}")
