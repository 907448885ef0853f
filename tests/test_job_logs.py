"""Following a log: one look at the file per log, however many follow it, and every
follower wakes when it grows."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bodo_jupyter.platform.jobs.logs import JobLogs


def test_many_followers_share_one_watch_and_all_wake(tmp_path):
    async def main() -> None:
        logs = JobLogs(root=tmp_path, watch_interval=0.01)
        path = logs.path("o-1", "j-1", "r-1")
        logs.create(path)
        followers = [asyncio.create_task(logs.grown(path, 0, 30)) for _ in range(50)]
        await asyncio.sleep(0)  # each follower runs up to its wait
        assert len(logs._watches) == 1  # one watch for fifty followers
        watch = logs._watches[path]
        assert watch.waiters == 50
        logs.append(path, "hello")
        assert await asyncio.gather(*followers) == [True] * 50
        # Nobody waits any more: the watch ends by itself.
        await asyncio.wait_for(watch.task, 10)
        assert path not in logs._watches
        assert await logs.grown(path, logs.size(path), 0.05) is False  # a timeout, no news

    asyncio.run(main())


LONG_LINES = r"""import sys
from mpi4py import MPI
rank = MPI.COMM_WORLD.rank
# Longer than hydra's 64 KiB reads, with text that looks like -prepend-rank's tags.
print(f"start {rank} " + "x" * 150_000 + f" [{1 - rank}] not a tag [0] {rank} end", flush=True)
print(f"short {rank} [1] [0] ", flush=True)
sys.stderr.write(f"[0] err {rank}\n")
"""


@pytest.mark.mpi
def test_the_supervisor_keeps_long_lines_and_tag_like_text_of_real_ranks_whole(tmp_path):
    """Real hydra, two ranks, lines longer than its reads and holding ``[N] `` text: the
    log has each rank's lines whole and on that rank (with -prepend-rank they were split
    and put on the other rank)."""
    from bodo_jupyter.platform.providers.local_launch import (
        MPICH,
        launcher_flavour,
        mpiexec_argv,
    )

    mpiexec = str(Path(sys.executable).parent / "mpiexec")
    version = subprocess.run([mpiexec, "--version"], capture_output=True, text=True).stdout
    if launcher_flavour(version) != MPICH:
        pytest.skip("MPICH's hydra is not this environment's launcher")
    (tmp_path / "long.py").write_text(LONG_LINES)
    (tmp_path / "env.json").write_text(json.dumps({"PATH": os.environ["PATH"]}))
    command = [*mpiexec_argv(mpiexec=mpiexec, ranks=2, oversubscribe=True, flavour=MPICH,
                             tag_output=True), sys.executable, "long.py"]
    subprocess.run([sys.executable, "-I", "-m", "bodo_jupyter.platform.jobs.supervise",
                    "--log", str(tmp_path / "log"), "--exit", str(tmp_path / "exit"),
                    "--cwd", str(tmp_path), "--env-file", str(tmp_path / "env.json"), "--",
                    *command], check=True, timeout=120, cwd=tmp_path)
    assert json.loads((tmp_path / "exit").read_text())["exit_code"] == 0
    lines = (tmp_path / "log").read_text().split("\n")[:-1]  # not splitlines: \x1e splits
    assert lines[0].startswith("[platform] $ ")
    for rank in (0, 1):
        assert (f"[rank {rank}] start {rank} " + "x" * 150_000
                + f" [{1 - rank}] not a tag [0] {rank} end") in lines
        assert f"[rank {rank}] short {rank} [1] [0] " in lines
        assert f"[rank {rank}:stderr] [0] err {rank}" in lines
    assert lines[-1] == "[platform] exit code 0" and len(lines) == 8, lines
