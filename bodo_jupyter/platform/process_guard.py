"""Keep the control plane's memory and environment from processes of its own OS user.

On an install without root, user code (engines, jobs) runs as the control
plane's OS user. Such a process may read ``/proc/<pid>/environ`` and attach a
debugger to any other process of that user -- the control plane's included,
whose environment holds the platform's own keys. A process marked not
dumpable (``prctl(PR_SET_DUMPABLE, 0)``) has its ``/proc`` entries owned by
root and refuses ptrace from non-root processes; its children are dumpable
again once they exec, so user code is not affected. Linux only; elsewhere a
no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def _prctl() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = libc.prctl
    fn.restype = ctypes.c_int
    return fn


def make_undumpable() -> bool:
    """Mark this process not dumpable; whether it now is (False off Linux)."""
    fn = _prctl()
    if fn is None:
        return False
    if fn(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return False
    return fn(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
