"""The `toolpod` CLI's edge: bad input exits 2 before any client (or cluster) is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from controller import cli


@pytest.fixture(autouse=True)
def no_client(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("a client was built for bad input")

    monkeypatch.setattr(cli, "_client", refuse)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tool: {kind: nats, operation: kv_get, buckt: b, key: k}", "did you mean 'bucket'"),
        ("tool: {kind: nats, operation: kv_gett, bucket: b, key: k}", "did you mean 'kv_get'"),
        ("[1, 2]", "must be a mapping"),
        ("tool: {kind: nats", "not valid YAML"),
        ("id: Not_A_Label\ntool: {kind: nats, operation: kv_get, bucket: b, key: k}", "id:"),
    ],
)
@pytest.mark.parametrize("command", ["run", "submit"])
def test_bad_input_exits_2_with_the_reason(
    tmp_path: Path, text: str, message: str, command: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    result = CliRunner().invoke(cli.main, [command, str(spec)])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_stdin_is_read_with_a_dash() -> None:
    result = CliRunner().invoke(cli.main, ["run", "-"], input="tool: {kind: nats, operation: x}")
    assert result.exit_code == 2
    assert "tool.operation" in result.output
