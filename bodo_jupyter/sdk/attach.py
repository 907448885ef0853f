"""Attach a Python process (a notebook kernel, a script) to a cluster's MPI ranks."""

from __future__ import annotations

from typing import Any

from bodo_jupyter.contract import models

from .errors import APIError


def connect(conn: models.Connection, timeout: float = 30.0) -> Any:
    """An ipyparallel Client with every engine of the cluster registered (blocking)."""
    import ipyparallel as ipp

    rc = ipp.Client(dict(conn.ipyparallel), timeout=timeout)
    try:
        rc.wait_for_engines(conn.core_count, timeout=timeout)
    except TimeoutError:
        have = len(rc.ids)
        rc.close()
        raise APIError(f"only {have} of {conn.core_count} engines of cluster "
                       f"{conn.cluster} answered within {timeout:g}s") from None
    return rc

