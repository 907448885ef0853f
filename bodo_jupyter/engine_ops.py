"""What ``%ppip`` and ``%psh`` run inside a cluster's engines. Standard library only.

The kernel does not import this module on the engines: it sends this file's source and
has each chosen engine evaluate one of its functions in a fresh namespace
(:func:`bodo_jupyter.cluster_tools.engine_call`). An engine's own ``bodo_jupyter`` may
be another version than the kernel's (or shadowed by a package of the cluster's
packages folder), and nothing is left in the user's namespace. The pure builders here
(pip's argv, the environment's constraints, which modules an install changed) are
tested without engines.

Packages go in with ``pip install --target <packages folder>``, not ``--prefix``:

* ``--target`` never uninstalls: pip installs into a folder of its own and moves the
  result into the target, so the cluster's environment (a venv that belongs to another
  OS user, and that bodo and the platform run from) is never touched, whatever the
  request -- with ``--prefix``, a request for another version of a package of the
  environment makes pip uninstall it from the environment (or fail half-way on
  permissions);
* the folder is plain (no ``lib/pythonX.Y/site-packages`` layout that depends on the
  engines' Python), so the platform puts the same folder on PYTHONPATH for engines and
  job ranks, and deleting the cluster deletes it;
* the price: ``--target`` implies ``--ignore-installed``, so pip would resolve every
  dependency afresh and could put a newer numpy before the environment's (breaking
  bodo, which is built for its own). So every install is constrained (``-c``) to the
  versions the environment has: dependencies it has are pinned to those (a request for
  a different one fails with pip's conflict message instead of shadowing it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PIP_COMMANDS = ("install", "uninstall", "list", "show", "freeze")
#: Options that would send packages somewhere else than the cluster's packages folder.
DESTINATION_OPTIONS = ("--target", "--prefix", "--root", "--user", "--editable")
QUIET = ("--no-input", "--disable-pip-version-check")


class PipUsage(ValueError):
    """A %ppip request that cannot be run as asked (a sentence for the user)."""


def refused_option(args: Sequence[str]) -> str | None:
    """The first option of ``args`` that picks pip's destination, or None."""
    for a in args:
        if a == "-t" or (a.startswith("-t") and not a.startswith("--")) or a == "-e" \
                or any(a == o or a.startswith(o + "=") for o in DESTINATION_OPTIONS):
            return a
    return None


def pip_argv(python: str, command: str, args: Sequence[str], *, packages: str,
             constraints: str | None = None) -> list[str]:
    """The pip command line of ``%ppip <command> <args>`` on an engine (not uninstall:
    pip cannot uninstall from a ``--target`` folder, :func:`uninstall` does)."""
    if command not in PIP_COMMANDS or command == "uninstall":
        raise PipUsage(f"%ppip {command}: use one of {', '.join(PIP_COMMANDS)}")
    bad = refused_option(args)
    if bad is not None:
        raise PipUsage(f"%ppip installs into the cluster's packages folder: leave out {bad}")
    argv = [python, "-m", "pip", command, *QUIET]
    if command == "install":
        # --upgrade: a package already in the folder is replaced by the version asked
        # for, instead of pip's "Target directory ... already exists" and no change.
        argv += ["--target", packages, "--upgrade"]
        if constraints:
            argv += ["-c", constraints]
    return [*argv, *args]


def normalize(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


#: A valid distribution name, and a PEP 440 version (the regex of PEP 440's appendix).
NAME = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"
VERSION = (r"^v?(?:(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)"
           r"[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?"
           r"[0-9]*)?)(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?$")


def constraints_text(dists: Iterable[tuple[str | None, str | None]]) -> str:
    """``name==version`` for each distribution of the environment (once, sorted). A
    distribution whose name or version pip would not parse is left out: one such line
    would make pip refuse every install."""
    import re

    pins = {normalize(n): v for n, v in dists if n and v and re.match(NAME, n)
            and re.match(VERSION, v, re.I)}
    return "".join(f"{n}=={v}\n" for n, v in sorted(pins.items()))


def module_names(before: Mapping[str, int], after: Mapping[str, int]) -> list[str]:
    """Top-level modules that a pip run added or replaced in a ``--target`` folder, from
    the folder's entries (name -> mtime) before and after."""
    out = set()
    for entry, mtime in after.items():
        if before.get(entry) == mtime or entry.startswith("."):
            continue
        if entry.endswith((".dist-info", ".egg-info", ".pth")) or entry in ("bin", "__pycache__"):
            continue
        name = entry.split(".", 1)[0] if entry.endswith((".py", ".so", ".pyd")) else entry
        if name.isidentifier():
            out.add(name)
    return sorted(out)


def stale_dist_infos(before: Mapping[str, int], after: Mapping[str, int]) -> list[str]:
    """The ``.dist-info`` folders an install left behind: with ``--target --upgrade`` pip
    replaces a package's folders but keeps the old version's ``name-1.0.dist-info``
    beside the new ``name-2.0.dist-info``, and then pip and importlib.metadata may report
    the old version. Stale: an entry the run did not touch, of a name it installed."""
    def name(entry: str) -> str:
        return normalize(entry[:-len(".dist-info")].rsplit("-", 1)[0])

    infos = [e for e in after if e.endswith(".dist-info")]
    fresh = {name(e) for e in infos if before.get(e) != after[e]}
    return sorted(e for e in infos if before.get(e) == after[e] and name(e) in fresh)


def record_files(record_text: str) -> list[str]:
    """The relative paths a distribution's RECORD lists (first CSV column)."""
    import csv
    import io

    return [row[0] for row in csv.reader(io.StringIO(record_text)) if row and row[0]]


def rank_ranges(ranks: Iterable[int]) -> str:
    """``0-3, 5``: ranks as short ranges for messages."""
    out: list[str] = []
    start = prev = None
    for r in sorted(set(ranks)):
        if prev is not None and r == prev + 1:
            prev = r
            continue
        if start is not None:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = r
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


# -- run on engines ------------------------------------------------------------------


def describe() -> dict[str, Any]:
    """Where this engine is: its host, the cluster's packages folder, its working folder."""
    import socket

    return {"host": socket.gethostname(), "packages": os.environ.get("BODO_JUPYTER_PACKAGES_DIR"),
            "cwd": os.getcwd()}


def _entries(folder: str) -> dict[str, int]:
    try:
        return {e.name: e.stat(follow_symlinks=False).st_mtime_ns for e in os.scandir(folder)}
    except FileNotFoundError:
        return {}


def _environment_dists(packages: str) -> list[tuple[str | None, str | None]]:
    """The distributions of the engines' environment, the packages folder left out."""
    from importlib import metadata

    here = os.path.realpath(packages)
    path = [p for p in sys.path if p and os.path.isdir(p) and os.path.realpath(p) != here]
    return [(d.metadata["Name"], d.version) for d in metadata.distributions(path=path)]


def _run_streaming(argv: list[str], timeout: float, tail: int) -> tuple[int, list[str]]:
    """Run ``argv`` printing its output as it comes; its exit code and last lines."""
    import collections
    import subprocess
    import threading

    last: collections.deque[str] = collections.deque(maxlen=tail)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1)
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            last.append(line.rstrip("\n"))
        code = proc.wait()
    finally:
        timer.cancel()
    if timed_out.is_set():
        last.append(f"(stopped after {timeout:g}s)")
    return code, list(last)


def pip(command: str, args: list[str], packages: str, timeout: float,
        tail: int) -> dict[str, Any]:
    """``%ppip <command>`` on this engine, as the engines' user: pip's output printed as
    it comes; the exit code, pip's last lines and the modules an install changed."""
    import tempfile

    if command == "uninstall":
        return uninstall(packages, args)
    os.makedirs(packages, exist_ok=True)
    before = _entries(packages)
    constraints = None
    if command == "install":
        with tempfile.NamedTemporaryFile("w", prefix="ppip-", suffix=".txt",
                                         delete=False) as f:
            f.write(constraints_text(_environment_dists(packages)))
        constraints = f.name
    try:
        argv = pip_argv(sys.executable, command, args, packages=packages,
                        constraints=constraints)
        code, last = _run_streaming(argv, timeout, tail)
    finally:
        if constraints:
            os.unlink(constraints)
    after = _entries(packages)
    if command == "install" and code == 0:
        import shutil

        for entry in stale_dist_infos(before, after):
            shutil.rmtree(os.path.join(packages, entry), ignore_errors=True)
    return {"code": code, "tail": last,
            "changed": module_names(before, after) if command == "install" else []}


def uninstall(packages: str, args: list[str]) -> dict[str, Any]:
    """Remove distributions from the packages folder by their RECORD (pip uninstalls
    only from the environment itself). Packages of the environment are not touched."""
    import shutil

    names = [a for a in args if not a.startswith("-")]
    if not names:
        return {"code": 2, "tail": ["%ppip uninstall: name the packages to remove"],
                "changed": []}
    infos = {}
    for entry in _entries(packages):
        if entry.endswith(".dist-info"):
            infos[normalize(entry[:-len(".dist-info")].rsplit("-", 1)[0])] = entry
    root = os.path.realpath(packages)
    code, last, changed = 0, [], set()
    for name in names:
        info = infos.get(normalize(name))
        if info is None:
            code = 1
            last.append(f"{name} is not installed in the cluster's packages folder (packages "
                        "of the cluster's environment itself cannot be removed)")
            print(last[-1], flush=True)
            continue
        with open(os.path.join(packages, info, "RECORD")) as f:
            files = record_files(f.read())
        folders = set()
        for rel in files:
            path = os.path.realpath(os.path.join(packages, rel))
            if not path.startswith(root + os.sep):
                continue  # a RECORD pointing outside the folder removes nothing there
            changed.add(rel.split("/", 1)[0].split(".", 1)[0])
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            folders.add(os.path.dirname(path))
        for folder in sorted(folders, key=len, reverse=True):
            # Bytecode the engines wrote when they imported it is in no RECORD.
            shutil.rmtree(os.path.join(folder, "__pycache__"), ignore_errors=True)
            while folder.startswith(root + os.sep):
                try:
                    os.rmdir(folder)
                except OSError:
                    break
                folder = os.path.dirname(folder)
        last.append(f"Removed {info[:-len('.dist-info')]} from the cluster's packages folder")
        print(last[-1], flush=True)
    return {"code": code, "tail": last,
            "changed": sorted(n for n in changed if n.isidentifier())}


def refresh(packages: str, names: list[str]) -> dict[str, Any]:
    """Make what is in the packages folder importable in this engine now; which of
    ``names`` it had imported already (those keep their old version until a restart)."""
    import importlib

    if packages not in sys.path:  # an engine started before the folder was on its path
        sys.path.insert(0, packages)
    importlib.invalidate_caches()
    return {"imported": [n for n in names if n in sys.modules]}


def sh(command: str, timeout: float) -> dict[str, Any]:
    """A shell command in this engine's working folder and environment."""
    import subprocess

    try:
        p = subprocess.run(command, shell=True, capture_output=True, text=True,
                           errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        return {"code": None, "stdout": out or "",
                "stderr": f"(stopped after {timeout:g}s)\n"}
    return {"code": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
