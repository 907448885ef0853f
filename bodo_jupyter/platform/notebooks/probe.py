"""The readiness probe of a notebook's server, shared by the backends (blocking)."""

from __future__ import annotations

import json
import urllib.request

#: Never through an HTTP proxy of the environment: the server is on this machine or in
#: the cluster's network, and a proxy would answer for it.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def jupyter_version(url: str, timeout: float = 2.0) -> str | None:
    """The Jupyter server version at ``url`` (its ``/api``), or None when no Jupyter
    server answers there. Only a server's own answer counts: where something else
    answers for any address or port (a proxy, a gateway, a process that took the port),
    a bare HTTP status would pass before the server is up."""
    try:
        with _DIRECT.open(url, timeout=timeout) as r:
            if r.status != 200:
                return None
            version = json.loads(r.read(4096)).get("version")
            return str(version) if version else None
    except (OSError, ValueError, AttributeError):
        return None
