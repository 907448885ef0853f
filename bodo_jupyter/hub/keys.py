"""The key that signs activation and invitation links: configured, or a 0600 file.

It never goes into the accounts database (whoever reads a backup of it could then mint
links) and never into a log.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_BYTES = 32


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path`` (hex), made with mode 0600 on first use.

    Created with O_EXCL, so two processes starting at once agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(KEY_BYTES) + "\n")
    if path.stat().st_mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (chmod 600)")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{path} does not hold a hex key") from None
    if len(key) < 16:
        raise ValueError(f"{path} holds a key of {len(key)} bytes; at least 16 are needed")
    return key
