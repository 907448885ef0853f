"""A throw-away PostgreSQL server for tests (Debian's postgresql package)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .net import free_port, wait_port


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def wait_accepting(dsn: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until the server answers a query (listening comes before "starting up" ends)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a SQLAlchemy URL; PostgreSQL refuses to run as root, so use its user then."""
    initdb, postgres = pg_bin("initdb"), pg_bin("postgres")
    if not initdb or not postgres:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) not found")
    root = tempfile.mkdtemp(prefix="bodo-pg-")
    data = os.path.join(root, "data")
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    port = free_port()
    subprocess.run([*prefix, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    proc = subprocess.Popen(
        [*prefix, postgres, "-D", data, "-p", str(port), "-k", root,
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc, "PostgreSQL", timeout=30)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        wait_accepting(url.replace("+psycopg", ""), proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)
