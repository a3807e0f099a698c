"""Ids and namespaces are checked before they reach a request: for any text, a verb either
refuses it (one line, exit 2, nothing asked of the executor) or passes it on unchanged, and an
API path built from it never leaves its namespace's collection."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from controller import cli, names
from controller.api import Toolpod
from controller.errors import InvalidInput
from controller.k8s import path
from controller.outcome import Outcome
from controller.settings import Settings
from runner.contract import job_name

VALID_ID = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ids = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[a-z0-9][-a-z0-9]{0,60}", fullmatch=True),
    st.sampled_from(["../../../../api/v1/namespaces/kube-system/secrets/x", "..", ".", "a/b"]),
    st.builds(lambda a, b: f"{a}{b}", st.sampled_from(["abc", "x-1"]), st.text(max_size=5)),
)


class Recorder:
    """An executor that only records what it was asked (the CLI's id handling is pure)."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def cancel(self, inv_id: str) -> Outcome:
        self.calls.append(("cancel", inv_id))
        return Outcome("cancelled", 5, {"invocation_id": inv_id, "status": "cancelled"}, "x")

    def get(self, inv_id: str) -> None:
        self.calls.append(("get", inv_id))

    def logs(self, inv_id: str) -> str:
        self.calls.append(("logs", inv_id))
        return ""

    def close(self) -> None:
        pass


def valid(inv_id: str) -> bool:
    return len(inv_id) <= 52 and VALID_ID.fullmatch(inv_id) is not None


@settings(max_examples=150, deadline=None)
@given(inv_id=ids, verb=st.sampled_from(["cancel", "get", "logs"]))
def test_any_id_is_refused_in_one_line_or_passed_on_unchanged(inv_id: str, verb: str) -> None:
    recorder = Recorder()
    original = cli._client
    cli._client = lambda *_a: Toolpod(recorder)  # type: ignore[assignment,arg-type]
    try:
        result = CliRunner().invoke(cli.main, [verb, "--", inv_id])
    finally:
        cli._client = original
    if valid(inv_id):
        assert recorder.calls == [(verb, inv_id)]
        return
    assert result.exit_code == 2, result.output
    assert recorder.calls == []
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("toolpod: ID: must be")


@settings(max_examples=300, deadline=None)
@given(inv_id=ids, namespace=ids)
def test_an_api_path_never_leaves_its_collection(inv_id: str, namespace: str) -> None:
    try:
        url = path("batch/v1", "Job", namespace, job_name(inv_id))
    except InvalidInput:
        assert not (valid(inv_id) and valid(namespace) and len(namespace) <= 63)
        return
    assert url == f"/apis/batch/v1/namespaces/{namespace}/jobs/toolpod-{inv_id}"


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("toolpod", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("Toolpod", False),
        ("-x", False),
        ("x-", False),
        ("kube-system/secrets", False),
        ("", False),
    ],
)
def test_a_namespace_is_checked_when_settings_are_made(value: str, allowed: bool) -> None:
    if allowed:
        assert Settings(namespace=value).namespace == value
        return
    with pytest.raises(InvalidInput, match="namespace: must be"):
        Settings(namespace=value)


@pytest.mark.parametrize("bad", ["Bad", "a/b", "x" * 53, "", "a_b", 7, None])
def test_the_api_refuses_a_bad_id_before_the_executor(bad: Any) -> None:
    recorder = Recorder()
    with pytest.raises(InvalidInput), Toolpod(recorder) as tp:  # type: ignore[arg-type]
        tp.cancel_sync(bad)
    assert recorder.calls == []
    assert names.invocation_id("ok-1") == "ok-1"
