"""Writing files that others read while we write them, and that only we may read."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Write ``text`` to ``path`` (mode 0600) in one rename: readers see all or nothing.

    ``owner`` (uid, gid) gives the file to another OS user before it appears.
    """
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        if owner is not None:
            os.fchown(f.fileno(), *owner)
    os.replace(tmp, path)
