"""bodo-jupyter: parallel Python on MPI clusters from Jupyter.

In a notebook::

    %load_ext bodo_jupyter
    %bodo attach demo
    %%px
    from mpi4py import MPI; MPI.COMM_WORLD.rank

In Python: ``bodo_jupyter.attach("demo")`` returns an ipyparallel Client. On a
cluster (a ``%%px`` cell, a job), ``bodo_jupyter.shared_dir()`` is the folder that every
rank sees.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def attach(name: str, **kwargs: Any) -> Any:
    """An ipyparallel Client on every MPI rank of the cluster ``name`` (see
    :func:`bodo_jupyter.sdk.attach`)."""
    from .sdk import attach as _attach

    return _attach(name, **kwargs)


def shared_dir() -> Path:
    """The folder every rank of the cluster sees, on every node (local: the
    organisation's shared folder, the engines' working folder; AWS: the EFS mount
    ``/shared``). For a ``%%px`` cell or a job: files one rank writes there, the others
    read."""
    value = os.environ.get("BODO_JUPYTER_SHARED_DIR")
    if not value:
        raise RuntimeError("shared_dir() is for code on a bodo-jupyter cluster (a %%px cell "
                           "or a job): BODO_JUPYTER_SHARED_DIR is not set in this process")
    return Path(value)


def load_ipython_extension(ip: Any) -> None:
    from .magics import load_ipython_extension as _load

    _load(ip)


def unload_ipython_extension(ip: Any) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ip)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import BodoJupyterExtension

    return [{"module": "bodo_jupyter", "app": BodoJupyterExtension}]
