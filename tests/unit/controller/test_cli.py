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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it (Is a directory)"),
        (b"\xff\xfe tool", "not UTF-8 text"),
        (b"[" * 10_000, "bad.yaml: "),
        (b"tool: {kind: nats, password: SECRET-1\n  x: [", "line"),
    ],
)
def test_an_unusable_spec_file_is_one_line_and_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    if content is None:
        spec.mkdir()
    else:
        spec.write_bytes(content)
    result = CliRunner().invoke(cli.main, ["run", str(spec)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1
    assert message in result.stderr
    assert "SECRET-1" not in result.stderr
