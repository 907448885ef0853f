from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import (
    PLANES,
    Serve,
    assert_no_cluster_processes,
    leaked_processes,
    remove_org_users,
    stop_leaked,
    wait_for,
)


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Nothing a test does touches the real user's Jupyter or bodo-jupyter folders."""
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("BODO_JUPYTER_DATA_DIR", "BODO_JUPYTER_URL",
                                            "BODO_JUPYTER_TOKEN", "JUPYTER_DATA_DIR",
                                            "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                                            "BODO_JUPYTER_WORKSPACES")}
    # Organisations' folders (as root: owned by their OS users) must be reachable by those
    # users, which pytest's 0700 temporary folders are not: a folder of their own.
    workspaces = Path(tempfile.mkdtemp(prefix="bodo-test-workspaces-", dir="/tmp"))
    os.chmod(workspaces, 0o711)
    os.environ["BODO_JUPYTER_WORKSPACES"] = str(workspaces)
    os.environ["BODO_JUPYTER_DATA_DIR"] = str(home / "bodo-data")
    os.environ["JUPYTER_DATA_DIR"] = str(home / "jupyter-data")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(home / "jupyter-runtime")
    os.environ["IPYTHONDIR"] = str(home / "ipython")
    os.environ.pop("BODO_JUPYTER_URL", None)
    os.environ.pop("BODO_JUPYTER_TOKEN", None)
    yield home
    remove_org_users(workspaces)
    shutil.rmtree(workspaces, ignore_errors=True)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    # Not a single cluster process of a control plane this session made may be left.
    # (Only this session's planes: other test runs on the machine have their own.)
    try:
        wait_for(lambda: not leaked_processes(PLANES), 15, interval=0.2,
                 what="cluster processes of this session to exit")
    except AssertionError:
        left = leaked_processes(PLANES)
        stop_leaked(PLANES)
        raise AssertionError("cluster processes leaked by this test session:\n" + "\n".join(
            f"  plane {plane}: {', '.join(procs)}" for plane, procs in left.items())) from None


@pytest.fixture
def gate_dir() -> Path:
    """A folder for files a test makes to let a job go on: one the organisations' OS users
    can look into (pytest's own temporary folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="gates-", dir=os.environ["BODO_JUPYTER_WORKSPACES"]))
    os.chmod(path, 0o711)
    return path


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server for the session (skipped only where none is installed,
    and never where scripts/test installed one)."""
    from .postgres import postgres_server

    try:
        ctx = postgres_server()
        url = ctx.__enter__()
    except FileNotFoundError as e:
        if os.environ.get("BODO_JUPYTER_REQUIRE_PG"):
            raise
        pytest.skip(str(e))
    try:
        yield url
    finally:
        ctx.__exit__(None, None, None)


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the session's server, for one test."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run a test on both databases: '' is the SQLite default."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One control plane per test module; every cluster is deleted at the end."""
    s = Serve(tmp_path_factory.mktemp("plane")).start()
    try:
        yield s
    finally:
        try:
            s.clean_up()
        finally:
            s.stop()
        assert_no_cluster_processes(s.plane_id)
