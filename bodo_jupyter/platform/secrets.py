"""Encryption at rest for secrets users give us (Git tokens, later AWS keys).

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) before they
reach the database, under a key the admin controls: ``SecretBox.key`` (or
``$BODO_JUPYTER_SECRET_KEY``), else a key file generated once, mode 0600, in
the data directory -- apart from the database, so a copied database alone
reveals nothing. Decrypted values live only in memory, for the call that
needs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from .errors import PlatformError


class SecretUnreadable(PlatformError):
    status = 500
    code = "secret_unreadable"


class SecretBox(LoggingConfigurable):
    key = Unicode(
        "", config=True,
        help="Fernet key (urlsafe base64, 32 bytes) that encrypts stored secrets. Default: "
        "$BODO_JUPYTER_SECRET_KEY, else the key file.",
    )
    key_file = Unicode(
        "", config=True,
        help="File holding the key, created (mode 0600) on first use. Default: "
        "<data dir>/secret.key.",
    )

    def __init__(self, data_dir: Path, **kwargs: Any):
        super().__init__(**kwargs)
        key = self.key or os.environ.get("BODO_JUPYTER_SECRET_KEY", "")
        if not key:
            key = self._load_or_create(Path(self.key_file or data_dir / "secret.key"))
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError) as e:
            raise ValueError(f"SecretBox.key is not a valid Fernet key: {e}") from None

    @staticmethod
    def _load_or_create(path: Path) -> str:
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "a stored secret cannot be decrypted: the secret key changed; "
                "enter the secret again"
            ) from None
