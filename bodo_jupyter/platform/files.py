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


def write_readable(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` (mode 0644, the caller's) in one rename, unless it holds
    that text already: files of the platform that user processes read but may not change
    (the site folder of clusters). True when written."""
    try:
        if path.read_text() == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    import tempfile

    # A name of its own per writer: two threads (or control planes) may write at once.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) and make it 0700 even if it existed wider:
    the control plane's own folders hold the database, keys and logs, which no other OS
    user (an organisation's processes run as users of their own) may look into."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing and make it 0600, before anyone writes to it (so
    that, e.g., SQLite's journal files, made with the database's mode, are 0600 too)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path
