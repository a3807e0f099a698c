"""Benchmark: the runner's cold start for NATS KV operations, beside the `nats` CLI.

Starts its own nats-server (from scripts/install-nats) on a free loopback port, then times, in
one run and interleaved so machine noise hits both alike:

* ``toolpod-runner run`` for kv_get and kv_put, process start to exit (N runs each);
* the same operation with the ``nats`` CLI (``nats kv get`` / ``nats kv put``);
* the runner's CPU time (user + system) beside its wall time: the wall time of a cold start
  grows with the machine's load, its CPU time much less;
* the runner's import time for a NATS operation (``python -X importtime``), and whether any
  Kubernetes, Kafka or Google client was imported on that path.

The runner's modules are compiled to bytecode first, as the image compiles them at build time:
under ``PYTHONDONTWRITEBYTECODE=1`` (the image's setting, and this machine's) an uncompiled
checkout recompiles every module of the runner at each start (15-25 ms).

Prints a table of medians, p95 and the ratio runner / nats CLI, and the import breakdown
by package.

    .venv/bin/python bench/runner.py [-n 30]
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bench", "bench-pw"


def bins() -> tuple[Path, Path]:
    out = (
        subprocess.run(
            ["bash", str(ROOT / "scripts/install-nats")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .split(":")
    )
    return Path(out[0]) / "nats-server", Path(out[1]) / "nats"


def compile_runner() -> None:
    """Bytecode for the runner's modules, as the image has it (see the module docstring)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "runner")], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: CPU seconds (user + system) of the last child process ``wall`` ran: unlike wall time it
#: hardly moves with the machine's load, so it shows the runner's own start on a busy machine.
CPU: list[float] = [0.0]


def wall(cmd: list[str], stdin: str | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]


def import_profile(runner_spec: Path, creds: Path) -> tuple[float, list[str], dict[str, float]]:
    """Seconds spent importing (top-level cumulative), which heavy clients were imported, and
    the breakdown: seconds per top-level package (each module's own time, summed)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "runner",
            "run",
            "--spec",
            str(runner_spec),
            "--credentials",
            str(creds),
            "--log-level",
            "ERROR",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    total_us, heavy, by_package = 0, set(), Counter[str]()
    for line in proc.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or not fields[0].strip().isdigit():
            continue
        name = fields[2][1:]  # one space of padding, then two spaces per nesting level
        if not name.startswith(" "):
            total_us += int(fields[1])
        package = name.strip().split(".")[0]
        by_package[package] += int(fields[0])
        if package in {"kubernetes", "kafka", "google"}:
            heavy.add(package)
    return total_us / 1e6, sorted(heavy), {k: v / 1e6 for k, v in by_package.items()}


def breakdown(by_package: dict[str, float], top: int = 8) -> str:
    """``runner 40 · pydantic 35 · ... · other 30`` (ms), the largest first."""
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])
    shown = [f"{name} {seconds * 1000:.0f}" for name, seconds in ranked[:top]]
    rest = sum(seconds for _, seconds in ranked[top:])
    return " · ".join([*shown, f"other {rest * 1000:.0f}"]) + " (ms)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=30, help="runs per operation (default 30)")
    n = parser.parse_args().n
    compile_runner()
    server_bin, nats_cli = bins()
    runner = str(Path(sys.executable).with_name("toolpod-runner"))
    with tempfile.TemporaryDirectory(prefix="toolpod-bench-") as tmp:
        work, port = Path(tmp), free_port()
        url = f"nats://127.0.0.1:{port}"
        (work / "nats.conf").write_text(
            f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{work}/js" }}\n'
            "accounts { A { jetstream: enabled, users: "
            f'[{{user: "{USER}", password: "{PASSWORD}"}}] }} }}\n'
        )
        server = subprocess.Popen(
            [str(server_bin), "-c", str(work / "nats.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            cli = [str(nats_cli), "-s", url, "--user", USER, "--password", PASSWORD]
            subprocess.run([*cli, "kv", "add", "bench"], capture_output=True, check=True)
            creds = work / "creds"
            creds.mkdir()
            (creds / "nats_main").write_text(
                json.dumps({"url": url, "user": USER, "password": PASSWORD})
            )
            specs = {
                "kv_put": {
                    "kind": "nats",
                    "operation": "kv_put",
                    "auth": "nats_main",
                    "bucket": "bench",
                    "key": "k",
                    "value": "v",
                },
                "kv_get": {
                    "kind": "nats",
                    "operation": "kv_get",
                    "auth": "nats_main",
                    "bucket": "bench",
                    "key": "k",
                },
            }
            for name, spec in specs.items():
                (work / f"{name}.json").write_text(json.dumps(spec))
            native = {
                "kv_put": [*cli, "kv", "put", "bench", "k", "v"],
                "kv_get": [*cli, "kv", "get", "bench", "k", "--raw"],
            }
            runs: dict[str, dict[str, list[float]]] = {
                op: {"runner": [], "nats": [], "runner_cpu": []} for op in specs
            }
            for op in ("kv_put", "kv_get"):  # warm the page cache once
                wall(
                    [runner, "run", "--spec", str(work / f"{op}.json"), "--credentials", str(creds)]
                )
            for _ in range(n):
                for op in specs:
                    runs[op]["runner"].append(
                        wall(
                            [
                                runner,
                                "run",
                                "--spec",
                                str(work / f"{op}.json"),
                                "--credentials",
                                str(creds),
                                "--log-level",
                                "ERROR",
                            ]
                        )
                    )
                    runs[op]["runner_cpu"].append(CPU[0])
                    runs[op]["nats"].append(wall(native[op]))
            imports, heavy, by_package = import_profile(work / "kv_get.json", creds)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(
        f"toolpod-runner vs nats CLI, {n} runs each, interleaved "
        "(wall time, process start to exit)\n"
    )
    print(
        "| operation | runner median | runner p95 | nats CLI median | nats CLI p95 "
        "| ratio (medians) | runner CPU median |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for op, r in runs.items():
        rm, nm = statistics.median(r["runner"]), statistics.median(r["nats"])
        print(
            f"| {op} | {rm * 1000:.0f} ms | {p95(r['runner']) * 1000:.0f} ms "
            f"| {nm * 1000:.0f} ms | "
            f"{p95(r['nats']) * 1000:.0f} ms | {rm / nm:.1f}x "
            f"| {statistics.median(r['runner_cpu']) * 1000:.0f} ms |"
        )
    print(
        "\nrunner imports for kv_get (python -X importtime, top-level cumulative): "
        f"{imports * 1000:.0f} ms"
    )
    print(f"import breakdown by package: {breakdown(by_package)}")
    print(f"heavy clients imported on the NATS path: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
