"""One control plane per data directory, and how clients find it.

The running control plane holds an exclusive lock on ``control-plane.lock``
and writes ``control-plane.json`` (URL, token, pid; mode 0600, like Jupyter's
own runtime files) so that the CLI, the Python client and a Jupyter server
started later can reach it without being told where it is.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from pathlib import Path
from typing import Any

from bodo_jupyter.contract.discovery import INFO_NAME, default_data_dir, read_info

from .files import write_private

LOCK_NAME = "control-plane.lock"
__all__ = ["INFO_NAME", "AlreadyRunning", "DataDirLock", "default_data_dir", "read_info",
           "remove_info", "write_info"]


class AlreadyRunning(Exception):
    def __init__(self, info: dict[str, Any] | None):
        self.info = info or {}
        where = self.info.get("url", "unknown URL")
        pid = self.info.get("pid", "?")
        super().__init__(f"a control plane already runs for this data directory "
                         f"(pid {pid}, {where})")


class DataDirLock:
    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(read_info(self.path.parent, check_alive=False)) from None
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def write_info(data_dir: Path, info: dict[str, Any]) -> Path:
    path = data_dir / INFO_NAME
    write_private(path, json.dumps({**info, "pid": os.getpid()}))
    return path


def remove_info(data_dir: Path) -> None:
    path = data_dir / INFO_NAME
    try:
        info = json.loads(path.read_text())
        if info.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
