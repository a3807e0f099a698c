"""Every `toolpod` verb, in a process of its own, against a broken kubeconfig, an API server that
refuses connections and one that accepts them and never answers: one line on stderr, the
documented exit code (2 configuration, 3 no answer), no traceback, within its --timeout.
(A 403 from a real API server: tests/cluster/test_controller_cli.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures._process import free_port
from tests.fixtures.toolpod_cli import VERBS, assert_one_line, verb_args

TIMEOUT_S = 1.5
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: SECRET-TOKEN-1}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
"""
SPEC = "tool: {kind: nats, operation: kv_get, bucket: b, key: k, auth: nats_main}\n"


def toolpod(
    tmp_path: Path, kubeconfig: Path | str, verb: str, timeout: float = TIMEOUT_S
) -> tuple[int, str, str, float]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    args = verb_args(verb, spec)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)}
    env.pop("TOOLPOD_LOG_LEVEL", None)
    cmd = [sys.executable, "-m", "controller.cli", *args, "--timeout", str(timeout)]
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


@pytest.fixture
def refusing(tmp_path: Path) -> Path:
    """A kubeconfig naming a loopback port nothing listens on."""
    path = tmp_path / "refusing.yaml"
    path.write_text(KUBECONFIG.format(port=free_port()))
    return path


@pytest.fixture
def silent(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig naming a server that completes the TCP handshake and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        path = tmp_path / "silent.yaml"
        path.write_text(KUBECONFIG.format(port=server.getsockname()[1]))
        yield path


BROKEN_KUBECONFIGS = {
    "missing": (None, "no such file"),
    "empty": (b"", "kubeconfig"),
    "binary": (bytes(range(256)), "not UTF-8"),
    "garbage": (b"users: [{token: SECRET-TOKEN-2}]\nclusters: {{{\n", "line 3"),
    "a scalar": (b"hello\n", "kubeconfig"),
    "a directory": ("dir", "Is a directory"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_KUBECONFIGS))
@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_broken_kubeconfig_is_one_line_and_exit_2(tmp_path: Path, verb: str, case: str) -> None:
    content, needle = BROKEN_KUBECONFIGS[case]
    path = tmp_path / "kubeconfig"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    code, out, err, _ = toolpod(tmp_path, path, verb)
    assert_one_line(code, 2, out, err, needle)
    assert "SECRET-TOKEN" not in err


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_refusing_api_server_is_one_line_and_exit_3(
    tmp_path: Path, refusing: Path, verb: str
) -> None:
    # Refusals come at once; the timeout only has to outlast a slow start on a busy machine.
    code, out, err, took = toolpod(tmp_path, refusing, verb, timeout=20)
    assert_one_line(code, 3, out, err, "Connection refused")
    assert "SECRET-TOKEN" not in err
    assert took < 15


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_silent_api_server_ends_within_the_timeout(
    tmp_path: Path, silent: Path, verb: str
) -> None:
    code, out, err, took = toolpod(tmp_path, silent, verb)
    assert_one_line(code, 3, out, err)
    # The timeout counts from when the client exists (imports and the kubeconfig come first,
    # and take seconds on a loaded machine); a hang is forever (the run's own bound is 180 s).
    assert took < TIMEOUT_S + 30
