"""Who runs an organisation's work on this machine.

When the control plane runs as root, each organisation's engines, jobs and
Git fetches run as an OS user of its own (see
:mod:`bodo_jupyter.platform.providers.os_users`), so one organisation's code
cannot read another's files, processes or the control plane's database and
keys. ``RunAs`` is that user as the code that starts processes needs it;
``None`` wherever a ``RunAs`` is optional means "as the control plane itself"
(an install without root, which serves one organisation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    #: The user's home: HOME of its processes (IPython, pip and git write there).
    home: Path

    def popen_kwargs(self) -> dict[str, Any]:
        """What ``subprocess.Popen`` needs to start a process as this user: no
        supplementary groups (root's would otherwise stay), private files."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": 0o077}

    def env(self) -> dict[str, str]:
        """The variables a login would set for this user."""
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
                "SHELL": "/bin/sh", "TMPDIR": str(self.home / "tmp")}

    def own(self, path: os.PathLike[str] | str, *, recursive: bool = False) -> None:
        """Give ``path`` (and, recursively, what is in it) to this user. Blocking."""
        os.chown(path, self.uid, self.gid, follow_symlinks=False)
        if recursive:
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), self.uid, self.gid,
                             follow_symlinks=False)


def own_dir(path: Path, run_as: RunAs | None, mode: int = 0o700) -> Path:
    """Make ``path`` (and missing parents, as the caller) a private folder of ``run_as``
    (or of the control plane's user when it is None). Blocking."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if run_as is not None:
        run_as.own(path)
    return path
