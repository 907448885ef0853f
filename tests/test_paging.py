"""Lists at size: keyset pages newest first, cursors scoped to their list, one SQL
statement per page, no large columns, indexes by migration, reads off the event
loop -- on SQLite and PostgreSQL -- and the SDK's ``iterate()`` and the CLI's
``--limit`` over a real server."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from traitlets.config import Config

from bodo_jupyter.platform.errors import BadRequest, NotFound
from bodo_jupyter.platform.identity import Identity
from bodo_jupyter.platform.models import (
    Cluster,
    ClusterLease,
    ClusterStatus,
    Job,
    JobRun,
    JobRunStatus,
    LeaseState,
    Notebook,
    NotebookStatus,
    Task,
    TaskStatus,
    utcnow,
)
from bodo_jupyter.platform.paging import encode_cursor
from bodo_jupyter.platform.service import ControlPlane
from bodo_jupyter.platform.store import Store, alembic_config, sqlite_url
from bodo_jupyter.sdk import AsyncPlatform, Platform

from .helpers import Serve, track

N = 7  # items of each kind: more than a page of 3, and not a multiple of it
BIG_ENV = {f"VAR_{i}": "x" * 1000 for i in range(500)}  # 0.5 MB in one job
# Columns no list may read (they may be large, or are internal or secret).
NOT_LISTED = ("jobs.env", "jobs.argv", "clusters.details", "tasks.params", "tasks.steps",
              "tasks.step_state", "job_runs.details", "notebooks.details",
              "notebooks.server_env_enc", "notebooks.token_enc")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs meanwhile."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def seed(store: Store, ident: Identity, n: int = N, *, job_prefix: str = "job") -> dict:
    """n clusters (each with a task and, for some, a holder), n jobs (each with a cluster and
    n runs for the first two); created_at repeats in pairs so that ties need the id."""
    base = utcnow()
    org, user = ident.org_id, ident.user_id

    def at(i: int) -> Any:
        return base - timedelta(seconds=10 * (i // 2))

    out: dict[str, list[str]] = {"clusters": [], "tasks": [], "jobs": [], "runs": [],
                                 "notebooks": []}
    with store.session() as s:
        for i in range(n):
            c = Cluster(org_id=org, name=f"{job_prefix}-c{i}", provider="local",
                        instance_type="local.small", instances=1, cores_per_instance=2,
                        created_by=user, status=ClusterStatus.FAILED, created_at=at(i),
                        details={"big": "y" * 10_000})
            s.add(c)
            s.flush()
            t = Task(org_id=org, user_id=user, kind="cluster.create", cluster_id=c.id,
                     status=TaskStatus.FAILED, steps=[], params={"big": "z" * 10_000},
                     created_at=at(i))
            s.add(t)
            s.flush()
            if i % 3 == 0:
                s.add(ClusterLease(org_id=org, cluster_id=c.id, holder_kind="notebook",
                                   holder_id=f"n{i}", holder_label=f"notebook {i}",
                                   state=LeaseState.HELD, acquired_at=base))
            j = Job(org_id=org, name=f"{job_prefix}-{i}", created_by=user, created_at=at(i),
                    cluster_id=c.id, schedule_type="cron", cron="0 0 1 1 *", active=False,
                    command="etl.py --big", argv=["etl.py", "--big", "a" * 10_000],
                    source_type="git", path="https://git.example.com/etl",
                    env=BIG_ENV if i == 0 else {"A": "1"}, git_password_enc="secret" if i else None)
            s.add(j)
            s.flush()
            nb = Notebook(org_id=org, name=f"{job_prefix}-n{i}", provider="local",
                          instance_type="local.notebook", created_by=user, created_at=at(i),
                          cluster_id=c.id if i % 2 else None, status=NotebookStatus.FAILED,
                          server_env_enc="e" * 10_000, token_enc="t" * 200,
                          details={"big": "v" * 10_000}, last_task_id=t.id)
            s.add(nb)
            s.flush()
            out["notebooks"].append(nb.id)
            out["clusters"].append(c.id)
            out["tasks"].append(t.id)
            out["jobs"].append(j.id)
            for k in range(n if i < 2 else 1):
                r = JobRun(job_id=j.id, org_id=org, trigger="manual", cluster_id=c.id,
                           status=JobRunStatus.FINISHED, created_at=at(k),
                           details={"big": "w" * 10_000})
                s.add(r)
                s.flush()
                if i == 0:
                    out["runs"].append(r.id)
    return out


def newest_first(store: Store, model: Any, ids: list[str]) -> list[str]:
    with store.session() as s:
        rows = s.query(model.id, model.created_at).filter(model.id.in_(ids)).all()
    return [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]


@contextmanager
def plane_on(tmp_path: Path, db_url: str = "") -> Iterator[ControlPlane]:
    config = Config()
    config.Store.db_url = db_url
    plane = track(ControlPlane(data_dir=str(tmp_path), config=config))
    loop = asyncio.new_event_loop()
    loop.run_until_complete(plane.start())
    try:
        yield plane
    finally:
        loop.run_until_complete(plane.stop())
        loop.close()


def every_page(read: Any, limit: int, engine: Engine) -> list[dict]:
    """All items, page by page; each page must be one statement reading no large column."""
    items: list[dict] = []
    cursor = None
    while True:
        with statements(engine) as seen:
            page = read(limit=limit, cursor=cursor)
        assert len(seen) == 1, seen
        for col in NOT_LISTED:
            assert col not in seen[0], (col, seen[0])
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items


def test_pages_cover_every_item_once_newest_first_in_one_statement_each(tmp_path, db_url):
    """On SQLite and PostgreSQL."""
    with plane_on(tmp_path, db_url) as plane:
        ann = plane.ensure_user("ann", "acme")
        ids = seed(plane.store, ann)
        bob = plane.ensure_user("bob", "globex")
        seed(plane.store, bob, 2, job_prefix="other")  # another organisation's: never listed
        engine = plane.store.engine
        lists = {
            "clusters": (lambda **kw: plane.clusters.list(ann, **kw), Cluster),
            "tasks": (lambda **kw: plane.tasks.list(ann, **kw), Task),
            "jobs": (lambda **kw: plane.jobs.list(ann, **kw), Job),
            "runs": (lambda **kw: plane.jobs.runs(ann, "job-0", **kw), JobRun),
            "notebooks": (lambda **kw: plane.notebooks.list(ann, **kw), Notebook),
        }
        for kind, (read, model) in lists.items():
            want = newest_first(plane.store, model, ids[kind])
            for limit in (1, 3, N, 500):
                got = [x["id"] for x in every_page(read, limit, engine)]
                assert got == want, (kind, limit)

        # What the lists say is what the detail reads say, minus the large fields.
        jobs = plane.jobs.list(ann, limit=N)["items"]
        first = next(j for j in jobs if j["name"] == "job-0")
        detail = plane.jobs.get(ann, "job-0")
        assert "env" not in first and "command_line" not in first
        assert detail["env"] == BIG_ENV and "--big" in detail["command_line"]
        assert {k: v for k, v in detail.items() if k not in ("env", "command_line")} == first
        assert [j["git_password_set"] for j in jobs].count(False) == 1
        assert first["last_run"]["id"] == newest_first(plane.store, JobRun, ids["runs"])[0]
        assert first["last_run"]["cluster"]["name"] == "job-c0"
        notebooks = plane.notebooks.list(ann, limit=N)["items"]
        for n in notebooks:
            assert n == plane.notebooks.get(ann, n["id"])  # cluster and last task included
        assert sum(n["cluster"] is not None for n in notebooks) == N // 2
        assert all(n["last_task"]["kind"] == "cluster.create" for n in notebooks)
        clusters = plane.clusters.list(ann, limit=N)["items"]
        for c in clusters:
            assert c == plane.clusters.get(ann, c["id"])  # last task and holder included
        assert sum(c["holder"] is not None for c in clusters) == 3
        assert all(c["last_task"]["kind"] == "cluster.create" for c in clusters)
        tasks = plane.tasks.list(ann, limit=N)["items"]
        t = plane.tasks.get(ann, tasks[0]["id"])
        assert {k: v for k, v in t.items() if k in tasks[0]} == tasks[0]
        assert tasks[0]["cluster_name"].startswith("job-c")
        # Filters still filter, in the same one statement.
        with statements(engine) as seen:
            only = plane.tasks.list(ann, cluster="job-c3")["items"]
        assert len(seen) == 1 and [x["cluster_name"] for x in only] == ["job-c3"]
        runs = plane.jobs.runs(ann, ids["jobs"][0], limit=2)
        assert runs["items"][0]["log_size"] == 0 and runs["next"]
        # A job without runs is an empty list; an unknown job (or another organisation's)
        # is a 404, told apart in the same statement.
        with plane.store.session() as s:
            s.add(Job(org_id=ann.org_id, name="idle", created_by=ann.user_id,
                      schedule_type="cron", cron="0 0 1 1 *", active=False, command="a.py",
                      argv=["a.py"], source_type="git", path="https://git.example.com/a"))
        assert plane.jobs.runs(ann, "idle") == {"items": [], "next": None}
        for ref in ("nope", "other-0"):
            with pytest.raises(NotFound):
                plane.jobs.runs(ann, ref)


def test_a_cursor_works_only_for_the_list_it_came_from(tmp_path):
    with plane_on(tmp_path) as plane:
        ann = plane.ensure_user("ann", "acme")
        seed(plane.store, ann)
        nexts = {
            "clusters": plane.clusters.list(ann, limit=2)["next"],
            "tasks": plane.tasks.list(ann, limit=2)["next"],
            "jobs": plane.jobs.list(ann, limit=2)["next"],
            "notebooks": plane.notebooks.list(ann, limit=2)["next"],
            "runs-0": plane.jobs.runs(ann, "job-0", limit=2)["next"],
            "runs-1": plane.jobs.runs(ann, "job-1", limit=2)["next"],
        }
        assert all(nexts.values())
        reads = {
            "clusters": lambda c: plane.clusters.list(ann, cursor=c),
            "tasks": lambda c: plane.tasks.list(ann, cursor=c),
            "jobs": lambda c: plane.jobs.list(ann, cursor=c),
            "notebooks": lambda c: plane.notebooks.list(ann, cursor=c),
            "runs-0": lambda c: plane.jobs.runs(ann, "job-0", cursor=c),
            "runs-1": lambda c: plane.jobs.runs(ann, "job-1", cursor=c),
        }
        for mine, read in reads.items():
            read(nexts[mine])  # its own cursor goes on
            for other, cursor in nexts.items():
                if other == mine:
                    continue
                with pytest.raises(BadRequest) as e:
                    read(cursor)
                assert e.value.field == "cursor", (mine, other)
                assert "another list" in e.value.message
        # The same job by id or by name is the same list.
        job0 = plane.jobs.get(ann, "job-0")["id"]
        assert plane.jobs.runs(ann, job0, cursor=nexts["runs-0"])["items"]
        for bad in ("garbage", "e30", encode_cursor("jobs", utcnow(), "j-1")[:-3] + "!!!"):
            with pytest.raises(BadRequest) as e:
                plane.jobs.list(ann, cursor=bad)
            assert e.value.field == "cursor"
        for limit in (0, 501, -1):
            with pytest.raises(BadRequest) as e:
                plane.clusters.list(ann, limit=limit)
            assert e.value.field == "limit"


def test_indexes_by_migration_keep_the_data(tmp_path, db_url):
    """0005 -> head on a database with rows (SQLite and PostgreSQL): the rows stay, each
    list's (.., created_at, id) index exists, and the way back works too.

    The rows are written by today's models, so at head, then the database goes back to
    0005 (the way back is under test too) and forward again with them in it."""
    from alembic import command

    from bodo_jupyter.platform.models import Organization, User

    store = Store(db_url=db_url) if db_url else Store(default_path=tmp_path / "db.sqlite")
    store.upgrade()
    with store.session() as s:
        org = Organization(name="acme")
        s.add(org)
        s.flush()
        user = User(name="ann", org_id=org.id)
        s.add(user)
        s.flush()
        ident = Identity(user_id=user.id, user_name="ann", org_id=org.id, org_name="acme")
    ids = seed(store, ident)

    def count(table: str) -> int:
        with store.engine.connect() as conn:
            return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()

    def check() -> None:
        # Plain SQL: at 0005 the clusters table has fewer columns than today's model.
        assert count("clusters") == N and count("tasks") == N
        assert count("job_runs") == 2 * N + (N - 2)
        with store.session() as s:
            assert s.get(Job, ids["jobs"][0]).env == BIG_ENV

    def names(table: str) -> set[str]:
        return {i["name"] for i in inspect(store.engine).get_indexes(table)}

    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
    assert "ix_jobs_org_created" not in names("jobs")
    assert "bodo_version" not in {c["name"] for c in inspect(store.engine)
                                  .get_columns("clusters")}
    check()
    store.upgrade()  # 0005 -> head, with the rows in it
    indexes = {t: {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes(t)}
               for t in ("clusters", "tasks", "jobs", "job_runs")}
    assert indexes["clusters"]["ix_clusters_org_created"] == ["org_id", "created_at", "id"]
    assert indexes["tasks"]["ix_tasks_org_created"] == ["org_id", "created_at", "id"]
    assert indexes["jobs"]["ix_jobs_org_created"] == ["org_id", "created_at", "id"]
    assert indexes["job_runs"]["ix_job_runs_job_created"] == ["job_id", "created_at", "id"]
    assert "ix_notebooks_org_created" in names("notebooks")  # 0008
    # 0007 leaves existing clusters without a Bodo version, and their live names unique.
    assert "uq_clusters_live_name" in names("clusters")
    with store.session() as s:
        assert {c.bodo_version for c in s.query(Cluster)} == {None}
    check()
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
    assert "ix_jobs_org_created" not in names("jobs")
    check()
    store.upgrade()
    check()
    store.dispose()


def test_reads_run_in_the_reader_pool_while_the_loop_serves(tmp_path):
    config = Config()
    config.Store.read_threads = 3
    store = Store(default_path=tmp_path / "db.sqlite", config=config)
    threads: set[str] = set()
    lock = threading.Lock()

    def slow_read() -> str:
        with lock:
            threads.add(threading.current_thread().name)
        time.sleep(0.2)
        return "ok"

    async def main() -> float:
        late = 0.0

        async def ticker() -> None:
            nonlocal late
            loop = asyncio.get_running_loop()
            for _ in range(30):
                t0 = loop.time()
                await asyncio.sleep(0.01)
                late = max(late, loop.time() - t0 - 0.01)

        tick = asyncio.create_task(ticker())
        t0 = time.monotonic()
        assert await asyncio.gather(*(store.read(slow_read) for _ in range(6))) == ["ok"] * 6
        took = time.monotonic() - t0
        await tick
        assert 0.35 < took < 1.5  # 6 reads of 0.2 s on 3 threads: two rounds
        return late

    late = asyncio.run(main())
    assert late < 0.1, late
    assert len(threads) == 3 and all(t.startswith("bodo-db-read") for t in threads), threads
    store.dispose()


# -- over a real server: HTTP, the SDK, the CLI -------------------------------------------


@pytest.fixture(scope="module")
def listed(serve: Serve) -> dict:
    """N jobs (the first with N runs) and N clusters written into the server's database."""
    status, info = serve.http("GET", "")
    assert status == 200, info
    ident = Identity(user_id=info["user"]["id"], user_name=info["user"]["name"],
                     org_id=info["organization"]["id"], org_name=info["organization"]["name"])
    store = Store(db_url=sqlite_url(serve.data_dir / "bodo-jupyter.sqlite"))
    ids = seed(store, ident)
    with store.session() as s:  # clusters a clean-up has nothing to do for
        for c in s.query(Cluster).all():
            c.status = ClusterStatus.TERMINATED
    ids["ordered_jobs"] = newest_first(store, Job, ids["jobs"])
    ids["ordered_runs"] = newest_first(store, JobRun, ids["runs"])
    ids["ordered_clusters"] = newest_first(store, Cluster, ids["clusters"])
    store.dispose()
    return ids


def test_http_pages_and_refusals(serve: Serve, listed: dict):
    got, cursor = [], ""
    while True:
        status, page = serve.http("GET", f"/jobs?limit=3{'&cursor=' + cursor if cursor else ''}")
        assert status == 200, page
        assert all("env" not in j and "command_line" not in j for j in page["items"])
        got += [j["id"] for j in page["items"]]
        if not page["next"]:
            break
        cursor = page["next"]
    assert got == listed["ordered_jobs"]
    _, first = serve.http("GET", "/jobs?limit=2")
    for path in ("/clusters", "/tasks", f"/jobs/{listed['jobs'][0]}/runs"):
        status, err = serve.http("GET", f"{path}?cursor={first['next']}")
        assert status == 400 and err["error"]["field"] == "cursor", (path, err)
    status, err = serve.http("GET", "/jobs?limit=501")
    assert status == 400 and err["error"]["field"] == "limit"
    status, job = serve.http("GET", f"/jobs/{listed['jobs'][0]}")
    assert status == 200 and job["env"] == BIG_ENV


def test_sdk_iterate_follows_next(serve: Serve, listed: dict):
    with Platform(serve.url, serve.token) as platform:
        jobs = platform.jobs.iterate(page_size=2)
        assert not isinstance(jobs, list)  # a plain iterator, read page by page
        assert [j.id for j in jobs] == listed["ordered_jobs"]
        assert [j.id for j in platform.jobs.list(limit=4)] == listed["ordered_jobs"][:4]
        assert [c.id for c in platform.clusters.iterate(all=True, page_size=3)] == \
            listed["ordered_clusters"]
        assert len(platform.tasks.list(limit=5)) == 5
        job = platform.jobs.get(listed["jobs"][0])
        assert [r.id for r in job.iterate_runs(page_size=3)] == listed["ordered_runs"]
        assert [r.id for r in job.runs(limit=2)] == listed["ordered_runs"][:2]
        listed_job = platform.jobs.list(limit=N)[-1]
        assert listed_job.data.env is None  # lists leave it out; refresh reads it
        assert listed_job.refresh().data.env is not None

    async def main() -> None:
        async with AsyncPlatform(serve.url, serve.token) as platform:
            ids = [j.id async for j in platform.jobs.iterate(page_size=3)]
            assert ids == listed["ordered_jobs"]
            job = await platform.jobs.get(listed["jobs"][0])
            runs = [r.id async for r in job.iterate_runs(page_size=2, limit=5)]
            assert runs == listed["ordered_runs"][:5]

    asyncio.run(main())


def test_cli_limit(serve: Serve, listed: dict):
    def cli_json(*args: str) -> list:
        r = serve.cli(*args, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    assert [j["id"] for j in cli_json("job", "list", "--limit", "3")] == \
        listed["ordered_jobs"][:3]
    assert len(cli_json("job", "list")) == N
    assert [c["id"] for c in cli_json("cluster", "list", "--all", "--limit", "2")] == \
        listed["ordered_clusters"][:2]
    assert [r["id"] for r in cli_json("job", "runs", "job-0", "--limit", "4")] == \
        listed["ordered_runs"][:4]
    assert len(cli_json("task", "list", "--limit", "2")) == 2
    r = serve.cli("job", "list", "--limit", "0")
    assert r.returncode == 2 and "--limit" in r.stderr


def test_the_api_reads_lists_in_the_reader_pool(tmp_path):
    """Lists in flight do not hold up another request: four lists fill the reader pool,
    blocked until the test lets them go, which it does only once another request has been
    answered (had a list run on the event loop, that answer could never come)."""
    import httpx
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from bodo_jupyter.platform.api.server import make_app

    threads: list[str] = []
    started = threading.Semaphore(0)
    release = threading.Event()

    async def main() -> None:
        plane = track(ControlPlane(data_dir=str(tmp_path), config=Config()))
        await plane.start()
        real = plane.jobs.list

        def slow(*args: Any, **kwargs: Any) -> dict:
            threads.append(threading.current_thread().name)
            started.release()
            release.wait(60)
            return real(*args, **kwargs)

        plane.jobs.list = slow  # type: ignore[method-assign]
        server = HTTPServer(make_app(plane, "tok"))
        sockets = bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/bodo/api/v1"
        try:
            async with httpx.AsyncClient(headers={"Authorization": "token tok"},
                                         timeout=60) as c:
                await c.get(url + "/")
                lists = [asyncio.create_task(c.get(url + "/jobs")) for _ in range(4)]
                # Every reader thread holds a list, blocked (the other lists queue).
                for _ in range(min(4, plane.store.read_threads)):
                    assert await asyncio.to_thread(started.acquire, True, 60)
                try:
                    r = await asyncio.wait_for(c.get(url + "/"), 30)
                    assert r.status_code == 200
                    assert not release.is_set() and not any(t.done() for t in lists)
                finally:
                    release.set()
                for t in lists:
                    assert (await t).status_code == 200
        finally:
            release.set()
            server.stop()
            await plane.stop()

    asyncio.run(main())
    assert len(threads) == 4 and all(t.startswith("bodo-db-read") for t in threads), threads
