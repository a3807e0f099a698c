"""Sinks for local runs: stdout (one JSON document, nothing else on stdout) and a file."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from runner.daemon import in_daemon_thread
from runner.errors import ConfigurationError, ResultWriteError

if TYPE_CHECKING:  # the sinks are chosen before pydantic's models are imported
    from runner.result import ToolResult


class StdoutSink:
    """The result as one line on fd 1, written whole or reported as not written.

    A pipe whose reader is slow blocks the write; the write runs in a daemon thread so that a
    SIGTERM still cancels the invocation (which then acks nothing and releases the batch) and
    the process can exit past the blocked thread. ``write`` returns only once every byte is in
    the pipe: nothing is acked on the strength of a partial print.
    """

    name = "stdout"
    rewritable = False  # a pipe cannot take back what it printed

    async def prepare(self) -> None:
        return None

    async def write(self, result: ToolResult) -> None:
        sys.stdout.flush()  # nothing of ours is buffered there, but keep the order if it were
        try:
            await in_daemon_thread(_write_all, (result.to_json() + "\n").encode())
        except OSError as e:
            raise ResultWriteError(f"writing the result to stdout failed: {e.strerror}") from e

    async def close(self) -> None:
        return None


class FileSink:
    """A regular file, replaced whole (write a temp file beside it, then rename).

    What it refuses, before the invocation runs and again before each rename: a path that is a
    symlink (whatever it points to is not what was named), a device, directory, FIFO or socket
    (``file:/dev/null`` used to replace the device with a regular file), and a regular file that
    is neither empty nor a ToolResult (a typo must not replace ``/etc/passwd``). The temp file is
    removed on every failure; only a SIGKILL between create and rename can leave one behind.
    """

    rewritable = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"

    async def prepare(self) -> None:
        if refusal := self._refusal():
            raise ConfigurationError(f"--sink {self.name}: {refusal}")

    async def write(self, result: ToolResult) -> None:
        if refusal := self._refusal():  # again: the path may have changed while the tool ran
            raise ResultWriteError(f"writing the result to {self.path}: it {refusal}")
        tmp = ""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w") as out:
                out.write(result.to_json() + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
            tmp = ""
        except OSError as e:
            raise ResultWriteError(f"writing the result to {self.path} failed: {e.strerror}") from e
        finally:
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    async def close(self) -> None:
        return None

    def _refusal(self) -> str | None:
        try:
            return _refusal(self.path)
        except OSError as e:
            return f"cannot be checked ({e.strerror})"


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


#: How every ToolResult this sink writes begins (``ToolResult.to_json``).
_RESULT_START = b'{"status":'


def _refusal(path: Path) -> str | None:
    """Why ``path`` must not be replaced by a result, or None."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink; name the file itself"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (a device, directory, FIFO or socket)"
    if st.st_size == 0:
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(path, flags)
    try:
        start = os.read(fd, len(_RESULT_START))
    finally:
        os.close(fd)
    return None if start == _RESULT_START else "exists and is not a ToolResult; not replacing it"
