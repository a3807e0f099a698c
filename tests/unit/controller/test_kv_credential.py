"""The NATS target for a KV results bucket, read from the alias's Secret in memory: the
credential never touches a disk, and a broken one is one message without its content."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from controller.kv_results import credential_from_secret
from controller.settings import Settings
from runner.errors import ConfigurationError


class Secrets:
    """The one read the credential makes (``Kube.get`` of a Secret), answered from a dict."""

    def __init__(self, data: dict[str, bytes] | None) -> None:
        self.data = data

    def get(self, api: str, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        assert (api, kind, ns, name) == ("v1", "Secret", "toolpod", "toolpod-cred-nats-main")
        if self.data is None:
            return None
        return {"data": {k: base64.b64encode(v).decode() for k, v in self.data.items()}}


def target(data: dict[str, bytes] | None) -> Any:
    return credential_from_secret(Secrets(data), Settings())("nats_main")  # type: ignore[arg-type]


def test_a_credential_becomes_a_target_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_files(*_a: object, **_k: object) -> None:
        raise AssertionError("a temporary file was made")

    monkeypatch.setattr("tempfile.mkdtemp", no_files)
    cred = {"url": "nats://127.0.0.1:4222", "user": "u", "password": "SECRET-9"}
    got = target({"credential": json.dumps(cred).encode()})
    assert (got.server, got.user, got.password) == ("nats://127.0.0.1:4222", "u", "SECRET-9")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "is needed to read results"),
        ({"other": b"{}"}, "is needed to read results"),
        ({"credential": b'{"password": "SECRET-9",'}, "not valid JSON"),
        ({"credential": b"\xff\xfeSECRET-9"}, "not UTF-8"),
        ({"credential": b'["SECRET-9"]'}, "must be a JSON object"),
    ],
)
def test_a_missing_or_broken_credential_is_one_message_without_its_content(
    data: dict[str, bytes] | None, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as refused:
        target(data)
    assert "SECRET-9" not in refused.value.message
