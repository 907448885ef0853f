"""Where job logs live and how they are read back, whole or from an offset.

Logs are files under the data directory, one per run, written by the run's
supervisor as the ranks print; they stay after the cluster is gone and are
removed with the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Float, Integer
from traitlets.config import LoggingConfigurable

from ..files import private_dir


@dataclass
class _Watch:
    """One log that someone follows: its size as last seen, and who waits for more."""

    size: int
    waiters: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class JobLogs(LoggingConfigurable):
    max_read_bytes = Integer(
        1 << 20, config=True, help="Largest chunk of a log one API call returns."
    )
    watch_interval = Float(
        0.1, config=True,
        help="Seconds between looks at a log that someone follows (the supervisor, another "
        "process, writes it): one look per log, however many clients follow it.",
    )

    def __init__(self, root: Path, **kwargs: object):
        super().__init__(**kwargs)
        self.root = private_dir(Path(root))
        self._watches: dict[Path, _Watch] = {}

    async def grown(self, path: Path, size: int, timeout: float) -> bool:
        """Wait until the log is longer than ``size`` bytes (True) or ``timeout`` passes."""
        watch = self._watches.get(path)
        if watch is None:
            watch = self._watches[path] = _Watch(self.size(path))
            watch.task = asyncio.get_running_loop().create_task(self._watch(path, watch))
        watch.waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    while watch.size <= size:
                        await watch.changed.wait()
            return watch.size > size
        finally:
            watch.waiters -= 1

    async def _watch(self, path: Path, watch: _Watch) -> None:
        """Look at one log's size while anyone waits for it to grow."""
        try:
            while watch.waiters > 0:
                await asyncio.sleep(self.watch_interval)
                size = self.size(path)
                if size != watch.size:
                    watch.size = size
                    watch.changed.set()
                    watch.changed = asyncio.Event()
        finally:
            self._watches.pop(path, None)

    def path(self, org_id: str, job_id: str, run_id: str) -> Path:
        return self.root / org_id / job_id / f"{run_id}.log"

    def create(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)

    def append(self, path: Path, line: str) -> None:
        """A line from the platform itself (fetch results, retries), between rank output."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"[platform] {line}\n")

    def size(self, path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, path: Path, offset: int, limit: int | None = None) -> tuple[str, int]:
        """Text from byte ``offset`` (whole lines when more follows) and the next offset."""
        limit = min(limit or self.max_read_bytes, self.max_read_bytes)
        try:
            with open(path, "rb") as f:
                if offset >= os.fstat(f.fileno()).st_size:
                    return "", offset  # at or beyond the end (a seek there may fail)
                f.seek(offset)
                chunk = f.read(limit)
        except FileNotFoundError:
            return "", offset
        if len(chunk) == limit and b"\n" in chunk:
            chunk = chunk[: chunk.rindex(b"\n") + 1]
        return chunk.decode("utf-8", "replace"), offset + len(chunk)

    def remove_job(self, org_id: str, job_id: str) -> None:
        shutil.rmtree(self.root / org_id / job_id, ignore_errors=True)
