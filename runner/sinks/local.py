"""Sinks for local runs: stdout (one JSON document, nothing else on stdout) and a file."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from runner.errors import ResultWriteError
from runner.result import ToolResult


class StdoutSink:
    name = "stdout"
    rewritable = False  # a pipe cannot take back what it printed

    async def write(self, result: ToolResult) -> None:
        try:
            sys.stdout.write(result.to_json() + "\n")
            sys.stdout.flush()
        except OSError as e:
            raise ResultWriteError(f"writing the result to stdout failed: {e.strerror}") from e

    async def close(self) -> None:
        return None


class FileSink:
    rewritable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"

    async def write(self, result: ToolResult) -> None:
        # Write-then-rename: a reader (or a crash) never sees half a result.
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w") as out:
                out.write(result.to_json() + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            raise ResultWriteError(f"writing the result to {self.path} failed: {e.strerror}") from e

    async def close(self) -> None:
        return None
