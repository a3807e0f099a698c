"""docs/reference.md §2 credentials and docs/reference.md §4 exit codes: auth, secrets never shown, server down → 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures._process import free_port
from tests.fixtures.nats import Nats, NatsServer
from tests.fixtures.runner_cli import run

pytestmark = pytest.mark.integration


def kv_keys(bucket: str, **conn: object) -> dict[str, object]:
    return {"kind": "nats", "operation": "kv_keys", "bucket": bucket, **conn}


def write(tmp_path: Path, alias: str, cred: dict[str, object]) -> Path:
    d = tmp_path / "creds"
    d.mkdir(exist_ok=True)
    (d / alias).write_text(json.dumps(cred))
    return d


@pytest.mark.parametrize(
    "cred",
    [
        pytest.param(lambda s: {"url": s.url, "user": s.user, "password": s.password}, id="url-user-password"),
        pytest.param(lambda s: {"nats_url": s.url, "username": s.user, "nats_password": s.password}, id="noetl-aliases"),
        pytest.param(lambda s: {"url": f"nats://{s.user}:{s.password}@127.0.0.1:{s.port}"}, id="userinfo-in-url"),
    ],
)
def test_every_credential_shape_connects(nats: Nats, tmp_path: Path, cred: object) -> None:
    creds = write(tmp_path, "main", cred(nats.server))  # type: ignore[operator]
    out = run(kv_keys(nats.kv_bucket(), auth="main"), creds)
    assert out.code == 0, out.error


def test_explicit_url_user_password_need_no_alias(nats: Nats, tmp_path: Path) -> None:
    s = nats.server
    out = run(kv_keys(nats.kv_bucket(), url=s.url, user=s.user, password=s.password), tmp_path)
    assert out.code == 0, out.error


def test_explicit_fields_override_the_alias(nats: Nats, tmp_path: Path) -> None:
    creds = write(tmp_path, "main", {"url": nats.server.url, "user": "toolpod", "password": "wrong"})
    out = run(kv_keys(nats.kv_bucket(), auth="main", password=nats.server.password), creds)
    assert out.code == 0, out.error


def test_a_token_server_accepts_the_token(nats_token_server: NatsServer, tmp_path: Path) -> None:
    bucket = "tok_bucket"
    nats_token_server.run(lambda js: js.create_key_value(bucket=bucket))
    creds = write(tmp_path, "main", {"url": nats_token_server.url, "token": nats_token_server.token,
                                     "user": "ignored", "password": "ignored"})
    out = run(kv_keys(bucket, auth="main"), creds)
    assert out.code == 0, out.error


@pytest.mark.parametrize(
    "cred",
    [
        pytest.param(lambda s: {"url": s.url, "user": s.user, "password": "Wr0ng-Pa55word"}, id="password"),
        pytest.param(lambda s: {"url": f"nats://{s.user}:Wr0ng-Pa55word@127.0.0.1:{s.port}"}, id="url"),
    ],
)
def test_a_wrong_password_exits_2_and_never_shows_it(nats: Nats, tmp_path: Path, cred: object) -> None:
    creds = write(tmp_path, "main", cred(nats.server))  # type: ignore[operator]
    out = run(kv_keys("any", auth="main"), creds)
    assert out.code == 2
    assert out.result["error"]["kind"] == "auth"
    assert out.result["error"]["retriable"] is False
    everything = json.dumps(out.result) + out.stderr
    assert "Wr0ng-Pa55word" not in everything
    assert "rejected the credentials" in out.error


def test_a_server_that_is_down_exits_3_quickly(tmp_path: Path) -> None:
    creds = write(tmp_path, "main", {"url": f"nats://127.0.0.1:{free_port()}"})
    out = run(kv_keys("b", auth="main"), creds)
    assert out.code == 3
    assert out.result["error"] == {
        "kind": "connection",
        "message": out.error,
        "retriable": True,
    }
    assert "cannot connect to the NATS server" in out.error
    assert out.runner_s < 10


def test_no_auth_and_no_url_is_a_configuration_error(tmp_path: Path) -> None:
    out = run(kv_keys("b"), tmp_path)
    assert out.code == 2
    assert "there is no default server" in out.error


def test_a_missing_credential_file_names_the_alias(tmp_path: Path) -> None:
    out = run(kv_keys("b", auth="nats_main"), tmp_path)
    assert out.code == 2
    assert "credential alias 'nats_main' not found" in out.error


def test_the_deadline_bounds_the_whole_invocation(nats: Nats) -> None:
    stream, _ = nats.stream()
    consumer = nats.consumer(stream)
    out = run(
        {"deadline_s": 1, "tool": {"kind": "nats", "operation": "js_consume", "auth": "nats_main",
                                   "stream": stream, "consumer": consumer, "timeout_ms": 5000}},
        nats.creds,
    )
    assert (out.code, out.result["status"]) == (3, "timeout")
    assert "deadline_s 1 was exceeded" in out.error
    assert 1 <= out.runner_s < 5, "ended by deadline_s, not by timeout_ms 5000"
