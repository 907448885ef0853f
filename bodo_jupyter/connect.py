"""Connect a Python process (a notebook kernel, a script) to a cluster's ranks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Cluster


def connect(cluster: Cluster, timeout: float = 30.0) -> Any:
    """An ipyparallel Client with every engine of ``cluster`` registered."""
    import ipyparallel as ipp

    from .client import PlatformError

    if cluster.status != "RUNNING":
        cluster.refresh()
    if cluster.status != "RUNNING":
        raise PlatformError(f"cluster {cluster.name} is {cluster.status}, not RUNNING"
                            + (f": {cluster.status_message}" if cluster.status_message else ""))
    info = cluster.connection_info()
    rc = ipp.Client(info, timeout=timeout)
    try:
        rc.wait_for_engines(cluster.core_count, timeout=timeout)
    except TimeoutError:
        have = len(rc.ids)
        rc.close()
        raise PlatformError(f"only {have} of {cluster.core_count} engines of cluster "
                            f"{cluster.name} answered within {timeout:g}s") from None
    return rc


def attach(name: str, *, url: str | None = None, token: str | None = None,
           timeout: float = 30.0) -> Any:
    """``bodo_jupyter.attach("demo")`` -> ipyparallel Client on all MPI ranks."""
    from .client import Platform

    return Platform(url, token).clusters.get(name).attach(timeout=timeout)
