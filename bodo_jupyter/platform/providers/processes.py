"""Start, find and stop process trees that must outlive the control plane.

Each cluster process (controller, ``mpiexec``) starts in a session of its own,
so that a restart of the control plane does not take the cluster down, and
so that everything it forks -- MPI ranks get process groups of their own, but
stay in the session -- can be found again by session id, even by a new
process that is not their parent. The recorded leader's start time guards
against a recycled pid.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from ..run_as import RunAs

# Children started by this process, kept so that they are reaped (no zombies)
# and so that their exit codes can be reported.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    sid: int
    create_time: float
    argv0: str
    log: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProcessRecord:
        return cls(int(d["pid"]), int(d["sid"]), float(d["create_time"]), str(d["argv0"]),
                   str(d.get("log", "")))


def spawn(argv: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike[str],
          log_path: str | os.PathLike[str], run_as: RunAs | None = None) -> ProcessRecord:
    """Start ``argv`` as the leader of a new session, output appended to ``log_path``.

    With ``run_as`` the process runs as that OS user (the control plane must be
    root); the log is opened here, by the control plane, so it stays the
    platform's file (0600) whoever writes into it.
    """
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            list(argv), env=dict(env), cwd=os.fspath(cwd), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            **(run_as.popen_kwargs() if run_as is not None else {}),
        )
    _children[proc.pid] = proc
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        created = time.time()
    return ProcessRecord(proc.pid, proc.pid, created, os.path.basename(argv[0]),
                         os.fspath(log_path))


def exit_code(rec: ProcessRecord) -> int | None:
    """The leader's exit code if it was our child and has exited."""
    proc = _children.get(rec.pid)
    if proc is None:
        return None
    return proc.poll()


def leader_alive(rec: ProcessRecord) -> bool:
    proc = _children.get(rec.pid)
    if proc is not None and proc.poll() is not None:
        return False
    try:
        p = psutil.Process(rec.pid)
        if abs(p.create_time() - rec.create_time) > 1.0:
            return False  # the pid was recycled
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def session_members(rec: ProcessRecord) -> list[psutil.Process]:
    """Every live process in the record's session (the leader and all it forked)."""
    out = []
    for p in psutil.process_iter(["pid", "create_time", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getsid(p.pid) != rec.sid:
                continue
            # A process older than our leader cannot be one of its children.
            if p.info["create_time"] + 1.0 < rec.create_time:
                continue
            out.append(p)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def _signal_all(procs: Sequence[psutil.Process], sig: int) -> None:
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def _reap(rec: ProcessRecord) -> None:
    proc = _children.get(rec.pid)
    if proc is not None and proc.poll() is not None:
        _children.pop(rec.pid, None)


def stop_session(rec: ProcessRecord, timeout: float = 10.0) -> list[int]:
    """Stop every process of the session: TERM the leader, then all, then KILL.

    Blocking; run it off the event loop. Returns pids that refused to die
    (empty on success).
    """
    members = session_members(rec)
    if not members:
        _reap(rec)
        return []
    leader = [p for p in members if p.pid == rec.pid]
    # Give the leader (mpiexec forwards signals to its ranks) the first chance.
    _signal_all(leader or members, signal.SIGTERM)
    deadline = time.monotonic() + timeout / 2
    while time.monotonic() < deadline:
        _reap(rec)
        members = session_members(rec)
        if not members:
            return []
        time.sleep(0.05)
    _signal_all(members, signal.SIGTERM)
    deadline = time.monotonic() + timeout / 2
    while time.monotonic() < deadline and members:
        time.sleep(0.05)
        _reap(rec)
        members = session_members(rec)
    if members:
        _signal_all(members, signal.SIGKILL)
        psutil.wait_procs(members, timeout=5)
    _reap(rec)
    return [p.pid for p in session_members(rec)]


async def stop_session_async(rec: ProcessRecord, timeout: float = 10.0) -> list[int]:
    return await asyncio.to_thread(stop_session, rec, timeout)


def log_tail(path: str | os.PathLike[str], lines: int = 6, max_chars: int = 600) -> str:
    """The last meaningful lines of a log as one line, for an error message.

    Rulers ("-----") and blank lines are dropped, so that what is left is
    the words a person needs (OpenMPI frames its errors in rulers).
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    words = [" ".join(ln.split()) for ln in text.splitlines()]
    tail = [w for w in words if w and any(ch.isalnum() for ch in w)][-lines:]
    return " / ".join(tail)[-max_chars:]


def tagged_sessions(tag_key: str, tag_value: str | None = None,
                    match: Mapping[str, str] | None = None) -> dict[str, list[ProcessRecord]]:
    """Session leaders whose environment carries ``tag_key`` (the local "tag").

    Returns ``{tag value: [ProcessRecord of each session]}``. ``match`` adds
    variables that must also be equal (the control-plane id).
    """
    found: dict[str, dict[int, ProcessRecord]] = {}
    for p in psutil.process_iter(["pid", "create_time", "name"]):
        try:
            env = p.environ()
        except (psutil.Error, OSError):
            continue
        value = env.get(tag_key)
        if value is None or (tag_value is not None and value != tag_value):
            continue
        if match and any(env.get(k) != v for k, v in match.items()):
            continue
        try:
            sid = os.getsid(p.pid)
        except (ProcessLookupError, PermissionError):
            continue
        sessions = found.setdefault(value, {})
        known = sessions.get(sid)
        if known is None:
            try:
                leader = psutil.Process(sid)
                sessions[sid] = ProcessRecord(sid, sid, leader.create_time(), leader.name())
                continue
            except psutil.Error:
                pass  # the leader is gone; its orphans still carry the session id
        if known is None or p.info["create_time"] < known.create_time:
            sessions[sid] = ProcessRecord(sid, sid, p.info["create_time"], p.info["name"])
    return {k: list(v.values()) for k, v in found.items()}


async def wait_exit(rec: ProcessRecord, timeout: float) -> bool:
    """True once the leader has exited (waits at most ``timeout`` seconds).

    Event-driven where the kernel has pidfds (Linux >= 5.3): the pidfd becomes
    readable when the process exits, whether or not it is our child -- so a
    restarted control plane notices an adopted job's end as fast as its parent
    would. Elsewhere it polls.
    """
    if not leader_alive(rec):
        return True
    loop = asyncio.get_running_loop()
    try:
        fd = os.pidfd_open(rec.pid)
    except (AttributeError, OSError):
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            if not leader_alive(rec):
                return True
        return False
    done: asyncio.Future[bool] = loop.create_future()

    def exited() -> None:
        if not done.done():
            done.set_result(True)

    loop.add_reader(fd, exited)
    try:
        if not leader_alive(rec):  # exited between the first check and the pidfd
            return True
        async with asyncio.timeout(timeout):  # not wait_for: it may lose a cancel (3.11)
            await done
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)
        _reap(rec)
