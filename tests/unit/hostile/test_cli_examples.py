"""The issue's examples, run as written through the runner's command: a clear error, exit 2.

No broker is needed: each is refused before anything connects. Every output stream is searched
for the secret the input carried and for a traceback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from controller.executors.local import runner_command

SECRET = "SECRET-7c1f"
PUBSUB = '{"kind":"subscription","source":"pubsub","subscription":"projects/p/subscriptions/s","endpoint":"%s"}'
KV_GET = '{"kind":"nats","operation":"kv_get","bucket":"b","key":"k","url":"%s"}'

EXAMPLES = [
    ('{"tool":' * 10_000 + "1" + "}" * 10_000, "nested deeper than 64 levels"),
    (b"kind: nats\noperation: kv_get\nbucket: \xff\n", "not UTF-8 text"),
    (
        '{"kind":"nats","operation":"kv_get","bucket":"b","key":"k","batch":' + "9" * 5000 + "}",
        "batch: an integer of 5000 digits",
    ),
    (PUBSUB % "127.0.0.1:99999", "tool.endpoint: not a valid address"),
    (PUBSUB % "127.0.0.1:59665x", "tool.endpoint: not a valid address"),
    (PUBSUB % "[::1", "tool.endpoint: not a valid address"),
    (KV_GET % f"nats://u:{SECRET}@127.0.0.1:99999", "tool.url: not a valid address"),
    (
        "kind: nats\noperation: kv_put\nbucket: b\nkey: k\nvalue: 2024-01-01\nurl: nats://127.0.0.1:1\n",
        "value: a YAML date",
    ),
    (
        f'kind: nats\noperation: kv_get\npassword: "{SECRET}\nurl: [\n',
        "not valid YAML or JSON at line",
    ),
    (
        '{"kind":"subscription","source":"nats","stream":"S","consumer":"c","ack":1,"url":"nats://127.0.0.1:1"}',
        "tool.ack: 1 is not an ack mode",
    ),
    (
        '{"kind":"subscription","source":"nats","stream":"S","consumer":"c","batch":true,"url":"nats://127.0.0.1:1"}',
        "tool.batch: input should be a valid integer",
    ),
    (
        '{"deadline_s":"60","tool":{"kind":"nats","operation":"kv_get","bucket":"b","key":"k","url":"nats://127.0.0.1:1"}}',
        "deadline_s: input should be a valid integer",
    ),
    (
        '{"kind":"nats","operation":"kv_get","bucket":"b","key":"k","auth":"nats_main\\n"}',
        "tool.auth: must be letters",
    ),
    (
        '{"kind":"nats","operation":"js_publish","subject":"'
        + "a" * 10_000
        + '","data":1,"url":"nats://127.0.0.1:1"}',
        "tool.subject: string should have at most 1024",
    ),
]


def run(spec: str | bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    data = spec if isinstance(spec, bytes) else spec.encode()
    command = [*runner_command(), "run", "--spec", "-", "--credentials", "/nonexistent", *args]
    return subprocess.run(command, input=data, capture_output=True, timeout=60, check=False)


@pytest.mark.parametrize(("spec", "fragment"), EXAMPLES, ids=range(len(EXAMPLES)))
def test_each_example_is_one_clear_error_with_exit_2(spec: str | bytes, fragment: str) -> None:
    proc = run(spec)
    assert proc.returncode == 2, proc.stderr
    result = json.loads(proc.stdout)
    assert fragment in result["error"]["message"]
    assert "\n" not in result["error"]["message"]
    for stream in (proc.stdout, proc.stderr):
        assert SECRET.encode() not in stream
        assert b"Traceback" not in stream


@pytest.mark.parametrize(
    "sink",
    [
        "configmap:../../../../api/v1/namespaces/kube-system/secrets/x",
        "nats-kv:a.b",
        "file:/dev/null",
    ],
)
def test_a_bad_sink_is_exit_2_before_the_invocation_runs(sink: str) -> None:
    proc = run(KV_GET % "nats://127.0.0.1:1", "--sink", sink)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == b""
    assert b"invocation started" not in proc.stderr


KAFKA = '{"kind":"subscription","source":"kafka","topic":"t","group":"g","timeout_ms":1000,"brokers":"%s"}'


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (PUBSUB % f"http://user:{SECRET}@127.0.0.1:1", "tool.endpoint: not a valid address: it carries a user:password@ part"),
        (KAFKA % f"user:{SECRET}@127.0.0.1:9092", "tool.brokers: not a valid address: it carries a user:password@ part"),
    ],
    ids=["pubsub endpoint", "kafka brokers"],
)
def test_userinfo_where_the_client_has_no_use_for_it_is_exit_2_before_connecting(spec: str, fragment: str) -> None:
    """Kafka took ``user:pass@host`` for a host name and retried it (exit 3); Pub/Sub echoed it."""
    proc = run(spec)
    assert proc.returncode == 2, proc.stderr
    assert fragment in json.loads(proc.stdout)["error"]["message"]
    assert SECRET.encode() not in proc.stdout + proc.stderr
    assert b"invocation started" not in proc.stderr


def test_an_unreachable_nats_url_is_shown_without_its_userinfo() -> None:
    proc = run(KV_GET % f"nats://user:{SECRET}@127.0.0.1:1")
    assert proc.returncode == 3
    assert "127.0.0.1:1" in json.loads(proc.stdout)["error"]["message"]
    assert SECRET.encode() not in proc.stdout + proc.stderr


def test_the_file_sink_leaves_dev_null_a_device(tmp_path: Path) -> None:
    proc = run(KV_GET % "nats://127.0.0.1:1", "--sink", "file:/dev/null")
    assert proc.returncode == 2
    assert Path("/dev/null").is_char_device()
