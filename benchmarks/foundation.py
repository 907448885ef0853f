"""Foundation benchmarks: our figures as ratios against raw ipyparallel, same run.

(a) create-to-ready of a local 4-rank cluster (REST create + wait, through a
    running `bodo-jupyter serve`) against raw
    ``ipyparallel.Cluster(engines="mpi", n=4).start_and_connect_sync()``.
    Goal: <= 0.5x.
(b) a trivial ``%%px`` cell after ``%bodo attach`` against raw
    ``view.execute(..., block=True)`` on the same engines. Goal: <= 1.1x.

Run: ``python benchmarks/foundation.py [--rounds 3] [--cells 300]``. Rounds
alternate raw and ours so that machine noise hits both alike; medians are
reported. The raw baseline gets what it needs to run at all here
(oversubscription, root permission for OpenMPI) and nothing more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def raw_startup(n: int) -> float:
    import ipyparallel as ipp
    from traitlets.config import Config

    from benchmarks.jobs import raw_mpiexec

    cfg = Config()
    cfg.MPILauncher.mpi_args = raw_mpiexec(n)[3:]  # Open MPI: --oversubscribe; MPICH: none
    t0 = time.perf_counter()
    cluster = ipp.Cluster(engines="mpi", n=n, config=cfg, log_level=40)
    rc = cluster.start_and_connect_sync()
    elapsed = time.perf_counter() - t0
    assert len(rc.ids) == n
    rc.close()
    cluster.stop_cluster_sync()
    return elapsed


def our_startup(platform, name: str, n_instances: int, itype: str) -> tuple[float, object]:
    t0 = time.perf_counter()
    cluster = platform.clusters.create(name, itype, n_instances, wait=True)
    elapsed = time.perf_counter() - t0
    assert cluster.status == "RUNNING", cluster
    return elapsed, cluster


def px_roundtrip(cluster_name: str, cells: int) -> tuple[float, float]:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "bodo_jupyter")
    shell.run_line_magic("bodo", f"attach {cluster_name}")
    from bodo_jupyter.magics import state

    view = state.client[:]
    view.block = True
    for _ in range(20):  # warm both paths
        shell.run_cell_magic("px", "", "a = 1")
        view.execute("a = 1", block=True)
    magic, raw = [], []
    for _ in range(cells):
        t0 = time.perf_counter()
        shell.run_cell_magic("px", "", "a = 1")
        magic.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        view.execute("a = 1", block=True)
        raw.append(time.perf_counter() - t0)
    shell.run_line_magic("bodo", "detach")
    return statistics.median(magic), statistics.median(raw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cells", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()

    if os.geteuid() == 0:  # Open MPI's own rule, needed by the raw baseline too (MPICH: unused)
        os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    # The MPI wheel's mpiexec sits beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    tmp = Path(tempfile.mkdtemp(prefix="bodo-bench-"))
    os.environ["IPYTHONDIR"] = str(tmp / "ipython")
    sys.path.insert(0, str(ROOT))
    from bodo_jupyter.sdk import Platform
    from tests.helpers import Serve, assert_no_cluster_processes

    serve = Serve(tmp / "plane").start()
    os.environ["BODO_JUPYTER_URL"] = serve.url
    os.environ["BODO_JUPYTER_TOKEN"] = serve.token
    platform = Platform()
    raw_t, ours_t = [], []
    try:
        for i in range(args.rounds):
            raw_t.append(raw_startup(4))
            t, cluster = our_startup(platform, f"bench-{i}", 2, "local.medium")
            ours_t.append(t)
            if i < args.rounds - 1:
                cluster.delete(wait=True)
        magic, raw = px_roundtrip(f"bench-{args.rounds - 1}", args.cells)
        cluster.delete(wait=True)
    finally:
        serve.clean_up()
        serve.stop()
    assert_no_cluster_processes(serve.plane_id)

    figures = {
        "startup_raw_ipyparallel_s": round(statistics.median(raw_t), 3),
        "startup_bodo_jupyter_s": round(statistics.median(ours_t), 3),
        "startup_ratio": round(statistics.median(ours_t) / statistics.median(raw_t), 3),
        "px_raw_view_execute_ms": round(raw * 1000, 3),
        "px_bodo_magic_ms": round(magic * 1000, 3),
        "px_ratio": round(magic / raw, 3),
        "rounds": args.rounds,
        "cells": args.cells,
        "startup_raw_all_s": [round(x, 2) for x in raw_t],
        "startup_ours_all_s": [round(x, 2) for x in ours_t],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"(a) create-to-ready, 4 MPI ranks: bodo-jupyter {figures['startup_bodo_jupyter_s']}s"
          f" vs raw ipyparallel {figures['startup_raw_ipyparallel_s']}s"
          f" -> {figures['startup_ratio']}x (goal <= 0.5x)")
    print(f"(b) %%px round trip: {figures['px_bodo_magic_ms']} ms vs raw view.execute "
          f"{figures['px_raw_view_execute_ms']} ms -> {figures['px_ratio']}x (goal <= 1.1x)")


if __name__ == "__main__":
    main()
