"""toolpod's demo: real invocations through the controller against a NATS server it starts.

Started by ``scripts/demo`` (which installs everything first). It starts nats-server with
JetStream on a free loopback port, creates a KV bucket, an object bucket and a stream with a
durable consumer, then submits one invocation per step with ``toolpod run --executor local``:
the controller's embedded executor, which runs the same runner a Job runs (same spec, same
credentials directory, same result contract) as a subprocess instead of a Pod. With a cluster,
``--executor kubernetes`` runs the same invocations as Jobs (README, "Run it on Kubernetes").
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

USER, PASSWORD = "demo", "demo-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(bin_dir: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    conf = work / "nats.conf"
    conf.write_text(
        f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{work / "js"}" }}\n'
        "accounts { A { jetstream: enabled, users: "
        f'[{{user: "{USER}", password: "{PASSWORD}"}}] }} }}\n'
    )
    log = (work / "nats.log").open("wb")
    proc = subprocess.Popen([str(bin_dir / "nats-server"), "-c", str(conf)], stdout=log, stderr=log)
    url = f"nats://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nats-server did not start; see {work / 'nats.log'}")


async def set_up(url: str) -> None:
    import nats

    nc = await nats.connect(url, user=USER, password=PASSWORD)
    js = nc.jetstream()
    await js.create_key_value(bucket="orders")
    await js.create_object_store(bucket="reports")
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    await js.add_consumer("ORDERS", durable_name="drain", ack_policy="explicit")
    await nc.close()


BLOB = bytes(range(256)) * 4
STEPS: list[tuple[str, dict[str, Any]]] = [
    ("kv_put", {"bucket": "orders", "key": "order.42", "value": {"order_id": 42, "total": 19.5}}),
    ("kv_get", {"bucket": "orders", "key": "order.42"}),
    ("kv_keys", {"bucket": "orders", "pattern": "order.*"}),
    ("kv_delete", {"bucket": "orders", "key": "order.42"}),
    ("kv_get", {"bucket": "orders", "key": "order.42"}),
    (
        "object_put",
        {
            "bucket": "reports",
            "name": "blob.bin",
            "encoding": "base64",
            "data": base64.b64encode(BLOB).decode(),
        },
    ),
    ("object_info", {"bucket": "reports", "name": "blob.bin"}),
    (
        "js_publish",
        {"subject": "orders.created", "data": {"order_id": 1}, "headers": {"X-Kind": "order"}},
    ),
    ("js_publish", {"subject": "orders.created", "data": {"order_id": 2}}),
    ("js_get_msg", {"stream": "ORDERS", "seq": 1}),
    ("js_consume", {"stream": "ORDERS", "consumer": "drain", "batch": 10, "timeout_ms": 1000}),
    ("js_consume", {"stream": "ORDERS", "consumer": "drain", "batch": 10, "timeout_ms": 500}),
    ("kv_get", {"bucket": "missing", "key": "k"}),
    ("kv_get", {"bucket": "orders", "kee": "typo"}),
]


def summary(data: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    if error:
        return f"{error['kind']}: {error['message']}"
    assert data is not None
    keep = {k: v for k, v in data.items() if k not in ("status", "messages", "ack_ids", "data")}
    if "messages" in data:
        keep["messages"] = [m["data"] for m in data["messages"]]
    return json.dumps(keep)[:110]


def main() -> int:
    bin_dir = Path(sys.argv[1])
    toolpod = str(Path(sys.executable).with_name("toolpod"))
    with tempfile.TemporaryDirectory(prefix="toolpod-demo-") as tmp:
        work = Path(tmp)
        proc, url = start_server(bin_dir, work)
        try:
            asyncio.run(set_up(url))
            creds = work / "credentials"
            creds.mkdir()
            (creds / "nats_main").write_text(
                json.dumps({"url": url, "user": USER, "password": PASSWORD})
            )
            print(f"nats-server {url} (JetStream); credential alias nats_main in a temp dir")
            print("each step: toolpod run --executor local --credentials DIR -o json -\n")
            print(f"{'#':>2}  {'operation':<12} {'exit':>4}  {'ms':>4}  result")
            last: dict[str, Any] = {}
            for i, (op, fields) in enumerate(STEPS, 1):
                spec = {
                    "execution_id": "demo",
                    "step": f"step-{i}",
                    "tool": {"kind": "nats", "operation": op, "auth": "nats_main", **fields},
                }
                out = subprocess.run(
                    [
                        toolpod,
                        "run",
                        "--executor",
                        "local",
                        "--credentials",
                        str(creds),
                        "-o",
                        "json",
                        "-",
                    ],
                    input=json.dumps(spec),
                    capture_output=True,
                    text=True,
                    check=False,
                    env={**os.environ, "TOOLPOD_LOG_LEVEL": "WARNING"},
                )
                if not out.stdout.strip():  # rejected before anything ran: the error is on stderr
                    print(f"{i:>2}  {op:<12} {out.returncode:>4}     -  {out.stderr.strip()}")
                    continue
                result = json.loads(out.stdout)
                if op == "js_consume" and not last:
                    last = result
                status = result["data"]["status"] if result.get("data") else result["status"]
                print(
                    f"{i:>2}  {op:<12} {out.returncode:>4}  {result['duration_ms']:>4}  "
                    f"{status}: {summary(result.get('data'), result.get('error'))}"
                )
            print("\nThe first js_consume's full ToolResult:")
            print(json.dumps(last, indent=2))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
