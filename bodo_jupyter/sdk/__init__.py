"""The Python SDK of the bodo-jupyter API: async first, with a blocking twin.

* :class:`AsyncPlatform` -- coroutines and async iterators; for event loops
  (the JupyterHub spawner, widgets, servers).
* :class:`Platform` -- the same, blocking; for scripts, the CLI and magics.
* :func:`attach` -- an ipyparallel Client on every MPI rank of a cluster.

The SDK speaks only HTTP and the API contract (:mod:`bodo_jupyter.contract`);
it imports nothing of the control plane (a lint rule and a test hold it to that).
"""

from __future__ import annotations

from .attach import connect
from .client import AsyncPlatform, Cluster, Job, JobRun, Notebook, Task, discover
from .errors import APIError, TaskFailed
from .sync import Platform, attach

__all__ = ["APIError", "AsyncPlatform", "Cluster", "Job", "JobRun", "Notebook", "Platform",
           "Task", "TaskFailed", "attach", "connect", "discover"]
