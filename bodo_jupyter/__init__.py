"""bodo-jupyter: parallel Python on MPI clusters from Jupyter.

In a notebook::

    %load_ext bodo_jupyter
    %bodo attach demo
    %%px
    from mpi4py import MPI; MPI.COMM_WORLD.rank

In Python: ``bodo_jupyter.attach("demo")`` returns an ipyparallel Client.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def attach(name: str, **kwargs: Any) -> Any:
    """An ipyparallel Client on every MPI rank of the cluster ``name`` (see
    :func:`bodo_jupyter.sdk.attach`)."""
    from .sdk import attach as _attach

    return _attach(name, **kwargs)


def load_ipython_extension(ip: Any) -> None:
    from .magics import load_ipython_extension as _load

    _load(ip)


def unload_ipython_extension(ip: Any) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ip)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import BodoJupyterExtension

    return [{"module": "bodo_jupyter", "app": BodoJupyterExtension}]
