"""Lists benchmark: ``GET /jobs?limit=50`` with 10,000 jobs (and ``GET
/clusters?limit=50`` with as many clusters), against a raw tornado handler that
returns a static JSON body of the same size from the same server process, on
SQLite and on PostgreSQL. Goal (issue 8): p95 < 50 ms for a page of
50 with 200 concurrent clients.

Run: ``python benchmarks/lists.py [--jobs 10000] [--db sqlite,postgresql] [--json]``.

The server is a child process: a ControlPlane with the API (token auth) and the
raw handler on one tornado server; its database gets the jobs inserted directly
through the Store (each with a run and a few env variables, and one with 5 MB
of env, the newest; and a FAILED cluster with its task), then ANALYZEd as a
database in use would be. The clients are in this process, on plain keep-alive
HTTP/1.1 connections written by hand (so that client overhead is the same small
amount for both sides).
Three loads, each run on the raw handler and then on the API:

* 1 client, requests back to back;
* 200 clients paced to ~100 requests/s in all (each every 2 s, spread out);
* 200 clients back to back (10 requests each), with a probe measuring
  ``GET /`` (no database) every 20 ms meanwhile: how long other requests wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The parent makes the token; the server child gets it in its environment.
TOKEN = os.environ.setdefault("BODO_BENCH_LISTS_TOKEN", "bench-" + secrets.token_hex(8))
PREFIX = "/bodo/api/v1"
RAW = "/raw-baseline"
BIG_ENV = {f"VAR_{i}": "x" * 1024 for i in range(5 * 1024)}  # 5 MB


# -- the server (child process) -----------------------------------------------------------


def seed(store: Any, ident: Any, n: int) -> None:
    from sqlalchemy import insert

    from bodo_jupyter.platform.models import Cluster, Job, JobRun, Task, new_id, utcnow

    base = utcnow()
    for start in range(0, n, 2000):
        jobs, runs = [], []
        for i in range(start, min(n, start + 2000)):
            created = base - timedelta(milliseconds=n - i)
            jid = new_id("j")
            jobs.append(dict(
                id=jid, org_id=ident.org_id, name=f"job-{i:05d}", created_by=ident.user_id,
                created_at=created, updated_at=created, schedule_type="cron",
                cron="0 3 * * *", timezone="UTC", active=False, max_concurrent_runs=1,
                command=f"etl.py --part {i}", argv=["etl.py", "--part", str(i)],
                source_type="git", path="https://git.example.com/team/etl", ref="main",
                env=BIG_ENV if i == n - 1 else {f"K{k}": f"value-{k}" for k in range(8)},
                retries=0, retry_delay_s=0))
            runs.append(dict(id=new_id("r"), job_id=jid, org_id=ident.org_id,
                             trigger="cron", status="FINISHED", phase="done", exit_code=0,
                             attempts=1, details={}, created_at=created,
                             command_line=f"mpiexec -n 4 python etl.py --part {i}"))
        clusters, tasks = [], []
        for i in range(start, min(n, start + 2000)):  # as many clusters, each with a task
            created = base - timedelta(milliseconds=n - i)
            cid = new_id("c")
            clusters.append(dict(
                id=cid, org_id=ident.org_id, name=f"cluster-{i:05d}", provider="local",
                instance_type="local.small", instances=2, cores_per_instance=2, efa=False,
                status="FAILED", status_message="engines exited", created_by=ident.user_id,
                created_at=created, updated_at=created, details={"log": "/var/x" * 50}))
            tasks.append(dict(
                id=new_id("t"), org_id=ident.org_id, user_id=ident.user_id,
                kind="cluster.create", cluster_id=cid, status="FAILED", params={},
                steps=[], step_state={}, last_seq=0, progress=0.5, attempts=1,
                cancel_requested=False, created_at=created, error="engines exited"))
        with store.session() as s:
            s.execute(insert(Job), jobs)
            s.execute(insert(JobRun), runs)
            s.execute(insert(Cluster), clusters)
            s.execute(insert(Task), tasks)
    # The steady state of a database in use (PostgreSQL's autovacuum would do it soon).
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


async def serve_main(db_url: str, n: int, info_file: str) -> None:
    import signal

    from tornado import web
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets
    from traitlets.config import Config

    from bodo_jupyter.platform.api.server import make_app
    from bodo_jupyter.platform.service import ControlPlane

    config = Config()
    config.Store.db_url = db_url
    plane = ControlPlane(data_dir=tempfile.mkdtemp(prefix="bodo-bench-lists-"), config=config)
    await plane.start()
    ident = plane.local_identity
    t0 = time.perf_counter()
    seed(plane.store, ident, n)
    seeded = time.perf_counter() - t0
    bodies = {"jobs": json.dumps(plane.jobs.list(ident, limit=50)).encode(),
              "clusters": json.dumps(plane.clusters.list(ident, limit=50)).encode()}

    class Raw(web.RequestHandler):
        def get(self, name: str) -> None:
            self.set_header("Content-Type", "application/json")
            self.finish(bodies[name])

    app = make_app(plane, TOKEN)
    app.add_handlers(r".*", [(RAW + "/(jobs|clusters)", Raw)])  # ahead of the API's catch-all
    server = HTTPServer(app)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    with open(info_file, "w") as f:  # noqa: ASYNC230 - once, before serving
        json.dump({"port": port, "bytes": {k: len(v) for k, v in bodies.items()},
                   "seed_s": round(seeded, 1)}, f)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()
    await plane.stop()


# -- the clients (this process) -----------------------------------------------------------


class Conn:
    """One keep-alive HTTP/1.1 connection; get() returns when the whole body is read."""

    def __init__(self, port: int):
        self.port = port

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def get(self, path: str) -> float:
        t0 = time.perf_counter()
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: token "
                          f"{TOKEN}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
        return time.perf_counter() - t0

    def close(self) -> None:
        self.writer.close()


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000


def summary(xs: list[float], wall: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"p50_ms": round(pct(xs, 50), 2), "p95_ms": round(pct(xs, 95), 2),
                           "n": len(xs)}
    if wall:
        out["req_per_s"] = round(len(xs) / wall)
    return out


async def single(port: int, path: str, requests: int) -> dict[str, Any]:
    c = await Conn(port).open()
    for _ in range(20):
        await c.get(path)
    xs = [await c.get(path) for _ in range(requests)]
    c.close()
    return summary(xs)


async def paced(port: int, path: str, clients: int, rate: float, seconds: float
                ) -> dict[str, Any]:
    conns = [await Conn(port).open() for _ in range(clients)]
    every = clients / rate
    xs: list[float] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def client(c: Conn) -> None:
        at = loop.time() + random.uniform(0, every)
        while at < end:
            await asyncio.sleep(max(0.0, at - loop.time()))
            xs.append(await c.get(path))
            at += every

    t0 = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return summary(xs, wall)


async def back_to_back(port: int, path: str, clients: int, each: int) -> dict[str, Any]:
    conns = [await Conn(port).open() for _ in range(clients)]
    probe = await Conn(port).open()
    xs: list[float] = []
    probes: list[float] = []
    done = asyncio.Event()

    async def client(c: Conn) -> None:
        for _ in range(each):
            xs.append(await c.get(path))

    async def prober() -> None:
        while not done.is_set():
            probes.append(await probe.get(PREFIX + "/"))
            await asyncio.sleep(0.02)

    p = asyncio.create_task(prober())
    t0 = time.perf_counter()
    await asyncio.gather(*(client(c) for c in conns))
    wall = time.perf_counter() - t0
    done.set()
    await p
    for c in [*conns, probe]:
        c.close()
    out = summary(xs, wall)
    out["probe_p50_ms"] = round(pct(probes, 50), 2)
    out["probe_p95_ms"] = round(pct(probes, 95), 2)
    return out


async def measure(port: int, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    loads = {
        "1 client": lambda path: single(port, path, args.requests),
        f"{args.clients} clients, ~{args.rate:g} req/s": lambda path: paced(
            port, path, args.clients, args.rate, args.seconds),
        f"{args.clients} clients, back to back": lambda path: back_to_back(
            port, path, args.clients, args.each),
    }
    for kind in args.lists.split(","):
        api = f"{PREFIX}/{kind}?limit=50"
        out[kind] = {}
        for name, run in loads.items():
            raw = await run(f"{RAW}/{kind}")
            ours = await run(api)
            out[kind][name] = {"api": ours, "raw": raw,
                               "p50_ratio": round(ours["p50_ms"] / raw["p50_ms"], 2),
                               "p95_ratio": round(ours["p95_ms"] / raw["p95_ms"], 2)}
    return out


def run_server(db_url: str, args: argparse.Namespace) -> dict[str, Any]:
    info = Path(tempfile.mkdtemp(prefix="bodo-bench-lists-")) / "info.json"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", "--db-url", db_url,
                             "--jobs", str(args.jobs), "--info", str(info)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 300
        while not info.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark server did not start")
            time.sleep(0.1)
        meta = json.loads(info.read_text())
        figures = asyncio.run(measure(meta["port"], args))
        return {"body_bytes": meta["bytes"], "seed_s": meta["seed_s"], "loads": figures}
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--db", default="sqlite,postgresql")
    ap.add_argument("--requests", type=int, default=300, help="1 client: requests")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rate", type=float, default=100.0, help="paced: requests/s in all")
    ap.add_argument("--seconds", type=float, default=10.0, help="paced: duration")
    ap.add_argument("--each", type=int, default=10, help="back to back: requests per client")
    ap.add_argument("--lists", default="jobs,clusters", help="which lists to measure")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db-url", default="", help=argparse.SUPPRESS)
    ap.add_argument("--info", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve_main(args.db_url, args.jobs, args.info))
        return

    results: dict[str, Any] = {"jobs": args.jobs}
    for db in args.db.split(","):
        if db == "sqlite":
            results[db] = run_server("", args)
        else:
            from tests.postgres import postgres_server

            with postgres_server() as url:
                results[db] = run_server(url, args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"GET /<list>?limit=50 with {args.jobs} jobs (and as many clusters) vs a raw "
          "tornado handler, same body size")
    print(f"{'db':11} {'list':9} {'load':32} {'api p50/p95 ms':>16} {'raw p50/p95 ms':>16} "
          f"{'ratio p50/p95':>14} {'probe GET / p95':>16}")
    for db in args.db.split(","):
        for kind, figures in results[db]["loads"].items():
            for load, f in figures.items():
                a, r = f["api"], f["raw"]
                probe = (f"{a['probe_p95_ms']} (raw {r['probe_p95_ms']})"
                         if "probe_p95_ms" in a else "")
                print(f"{db:11} {kind:9} {load:32} {a['p50_ms']:>7}/{a['p95_ms']:<8} "
                      f"{r['p50_ms']:>7}/{r['p95_ms']:<8} {f['p50_ratio']:>6}/"
                      f"{f['p95_ratio']:<7} {probe:>16}")
        print(f"{db:11} bodies {results[db]['body_bytes']} bytes, seeded in "
              f"{results[db]['seed_s']} s")


if __name__ == "__main__":
    main()
