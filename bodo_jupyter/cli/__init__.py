"""The ``bodo-jupyter`` command line: a thin layer over the SDK (:mod:`bodo_jupyter.sdk`).

Reads take ``--json`` for scripts; ``--wait`` follows a task step by step
with a progress bar and exits non-zero when it fails. Forms (cluster, job and
notebook create) are the contract's declared forms rendered as options, so a bad value
is reported under the flag you typed. Errors are one line on stderr, never a
traceback: exit status 1, or 2 for a command line that cannot be read.
"""

from __future__ import annotations

from . import aws, clusters, jobs, notebooks, service, tasks
from .app import main

__all__ = ["aws", "clusters", "jobs", "main", "notebooks", "service", "tasks"]
