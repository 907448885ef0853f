"""Runs a job's ``mpiexec`` and keeps its output whole, rank by rank.

``python -I -m bodo_jupyter.platform.jobs.supervise --log L --exit E --cwd W
--env-file F [--uid U --gid G] -- mpiexec ...``

The supervisor, not the control plane, owns the job's process: it writes
every line of every rank to the log as it comes (``[rank 3] ...``,
``[rank 3:stderr] ...``, from Open MPI's ``--output tag`` or MPICH's
``-prepend-pattern`` :data:`HYDRA_RANK_PATTERN`), forwards SIGTERM/SIGINT to
``mpiexec`` (which passes them to the ranks), and finally writes the exit code to E. So a job keeps
running, logging and finishing properly while the control plane restarts, and
the control plane learns the outcome from E when it comes back.

It is platform code, kept apart from the job: it runs isolated (``-I``, in a
folder of its own, so nothing in the job's source is imported), as the control
plane's user, with an environment of its own; the job runs in W with exactly
the environment in F (read, then removed), as uid U when given -- so the job
can neither change what the supervisor records nor signal it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import IO

RANK_TAG = re.compile(r"\[(\d+),(\d+)\]<(stdout|stderr)>: ?")  # Open MPI: --output tag
#: What MPICH's hydra puts before every piece of a rank's output (``-prepend-pattern``):
#: the rank between two ASCII control characters (record / unit separator) that no
#: rank prints, so a rank's own ``[3] `` is text, not a tag (``-prepend-rank``'s ``[3] ``
#: was ambiguous: a job printing ``[1] `` had its line split and misattributed).
HYDRA_RANK_PATTERN = "\x1e%r\x1f"
RANK_PREFIX = re.compile("\x1e(\\d+)\x1f")


def printable(argv: list[str]) -> str:
    """A command line as people read it: control characters (the rank pattern) escaped."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", a)
                    for a in argv)


def format_output(stream: str, line: str) -> list[str]:
    """Open MPI's tagged output (``--output tag``) as rank-prefixed log lines.

    A rank's partial line (no newline) can be glued to the next rank's tag;
    each tag starts a segment of its own. Lines without a tag come from
    mpiexec itself.
    """
    line = line.rstrip("\n")
    matches = list(RANK_TAG.finditer(line))
    if not matches:
        return [f"[mpiexec{':stderr' if stream == 'stderr' else ''}] {line}"] if line else []
    out = []
    head = line[: matches[0].start()]
    if head.strip():
        out.append(f"[mpiexec] {head}")
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        text = line[m.end():end]
        rank, which = m.group(2), m.group(3)
        out.append(f"[rank {rank}{':stderr' if which == 'stderr' else ''}] {text}")
    return out


class RankLines:
    """One of mpiexec's pipes (``stream``) as rank-prefixed log lines, for either MPI.

    Open MPI tags whole segments (:func:`format_output`). MPICH's hydra puts its rank
    pattern before every piece it reads from a rank (at most 64 KiB: a long line comes
    in several), and a rank whose Python writes unbuffered (``print`` writes words and
    the newline apart) arrives in pieces interleaved with other ranks'
    (``<0>out<1>out 1``, later ``<0> 0``): each rank's pieces are gathered until its
    newline, so every log line is one whole line of one rank. Which stream it was is
    the pipe mpiexec wrote it to. Lines that carry no tag come from mpiexec itself.
    """

    def __init__(self, stream: str):
        self.stream = stream
        self.err = ":stderr" if stream == "stderr" else ""
        self.partial: dict[str, str] = {}

    def feed(self, line: str) -> list[str]:
        if RANK_TAG.search(line):
            return format_output(self.stream, line)
        matches = list(RANK_PREFIX.finditer(line))
        if not matches or matches[0].start() != 0:
            return format_output(self.stream, line)
        out = []
        ended = line.endswith("\n")
        body = line[:-1] if ended else line
        for i, m in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
            rank = m.group(1)
            self.partial[rank] = self.partial.get(rank, "") + body[m.end():end]
        if ended:  # the newline ends the last piece's rank
            rank = matches[-1].group(1)
            out.append(f"[rank {rank}{self.err}] {self.partial.pop(rank)}")
        return out

    def flush(self) -> list[str]:
        """What ranks wrote without a final newline."""
        out = [f"[rank {r}{self.err}] {t}" for r, t in sorted(self.partial.items(),
                                                                 key=lambda kv: int(kv[0]))
               if t]
        self.partial.clear()
        return out


class LogWriter:
    def __init__(self, path: str):
        self.f = open(path, "a", encoding="utf-8", errors="replace")
        self.lock = threading.Lock()

    def write(self, lines: list[str]) -> None:
        if not lines:
            return
        with self.lock:
            self.f.write("".join(ln + "\n" for ln in lines))
            self.f.flush()

    def close(self) -> None:
        self.f.close()


def pump(stream_name: str, pipe: IO[str], log: LogWriter) -> None:
    lines = RankLines(stream_name)
    for line in iter(pipe.readline, ""):
        log.write(lines.feed(line))
    log.write(lines.flush())
    pipe.close()


def write_exit(path: str, code: int, started: float) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"exit_code": code, "seconds": round(time.time() - started, 3)}, f)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--exit", required=True, dest="exit_file")
    ap.add_argument("--cwd", required=True, help="the job's working folder")
    ap.add_argument("--env-file", required=True, help="the job's environment (JSON)")
    ap.add_argument("--uid", type=int, default=None, help="run the job as this user")
    ap.add_argument("--gid", type=int, default=None)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command given")
    with open(args.env_file, encoding="utf-8") as f:
        env = json.load(f)
    os.unlink(args.env_file)
    as_user: dict = {}
    if args.uid is not None:
        as_user = {"user": args.uid, "group": args.gid if args.gid is not None else args.uid,
                   "extra_groups": [], "umask": 0o077}
    log = LogWriter(args.log)
    started = time.time()
    log.write([f"[platform] $ {printable(command)}"])
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, text=True, errors="replace",
                                 bufsize=1, cwd=args.cwd, env=env, **as_user)
    except OSError as e:
        log.write([f"[platform] cannot start {command[0]}: {e}"])
        log.close()
        write_exit(args.exit_file, 127, started)
        return 127

    def forward(signum: int, _frame: object) -> None:
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    threads = [threading.Thread(target=pump, args=(name, pipe, log), daemon=True)
               for name, pipe in (("stdout", child.stdout), ("stderr", child.stderr))]
    for t in threads:
        t.start()
    code = child.wait()
    for t in threads:
        t.join(timeout=10)
    log.write([f"[platform] exit code {code}"])
    log.close()
    write_exit(args.exit_file, code, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
