"""Where a client finds the API: the other half of the contract.

A running control plane writes ``control-plane.json`` (URL, token, pid; mode
0600) in its data directory; clients on the same machine read it, so that
the CLI and the Python SDK need no set-up. The API always lives under
:data:`API_PREFIX` of its host. Standard library only: servers and clients
both import this module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

API_PREFIX = "/bodo/api/v1"
INFO_NAME = "control-plane.json"


def default_data_dir() -> Path:
    """``$BODO_JUPYTER_DATA_DIR``, else ``<jupyter data dir>/bodo-jupyter``."""
    env = os.environ.get("BODO_JUPYTER_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "bodo-jupyter"


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def read_info(data_dir: Path, check_alive: bool = True) -> dict[str, Any] | None:
    """The running control plane's URL and token, or None when none runs."""
    try:
        info = json.loads((Path(data_dir) / INFO_NAME).read_text())
    except (OSError, ValueError):
        return None
    if check_alive and not pid_alive(int(info.get("pid", -1))):
        return None
    return info


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the API's URL (with the one it probably should be), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return (f"{url!r} is not an http(s) URL; the API's URL looks like "
                f"http://127.0.0.1:8765{API_PREFIX}")
    path = parts.path.rstrip("/")
    if not path.endswith(API_PREFIX):
        fixed = f"{parts.scheme}://{parts.netloc}{path}{API_PREFIX}"
        return (f"{url} is not the API's URL: the API lives under {API_PREFIX} of its "
                f"host; did you mean {fixed}?")
    return None
