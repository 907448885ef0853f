"""The database: engine, sessions and schema migrations.

SQLite in WAL mode under the data directory is the embedded default; any
SQLAlchemy URL (``postgresql+psycopg://...``) works by configuration. The
schema is owned by Alembic migrations from the first release, so an upgrade
of the package never needs a hand-run script.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from traitlets import Bool, Integer, Unicode
from traitlets.config import LoggingConfigurable

from .files import private_dir, private_file

MIGRATIONS = Path(__file__).with_name("migrations")
T = TypeVar("T")


def sqlite_url(path: str | os.PathLike[str]) -> str:
    return f"sqlite:///{os.fspath(path)}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class Store(LoggingConfigurable):
    """Owns the engine and hands out short transactions."""

    db_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the database. Empty: SQLite file in the data directory.",
    )
    echo = Bool(False, config=True, help="Log every SQL statement (debugging only).")
    read_threads = Integer(
        2,
        config=True,
        help="Threads that run the API's list reads, off the event loop: many concurrent "
             "lists wait for these instead of holding up every other request. SQLite (WAL) "
             "and PostgreSQL both serve readers side by side.",
    )

    def __init__(self, default_path: str | os.PathLike[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        url = self.db_url or os.environ.get("BODO_JUPYTER_DB_URL", "")
        if not url:
            if default_path is None:
                raise ValueError("Store needs db_url or a default SQLite path")
            private_dir(Path(default_path).parent)
            url = sqlite_url(private_file(Path(default_path)))
        self.url = url
        self.engine: Engine = create_engine(url, echo=self.echo, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers: ThreadPoolExecutor | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (creates it on first start)."""
        import logging

        from alembic import command

        logging.getLogger("alembic").setLevel(logging.WARNING)
        with self.engine.begin() as conn:
            cfg = alembic_config(conn)
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def rows(self, statement: Any, **params: Any) -> list[Any]:
        """The rows of one read-only statement, on a plain connection (no ORM objects:
        what lists read is columns, and the ORM's bookkeeping would cost more)."""
        with self.engine.connect() as conn:
            return list(conn.execute(statement, params).all())

    async def read(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` -- a read that opens its own session -- in the reader
        pool (``read_threads``), so that the event loop goes on serving meanwhile."""
        if self._readers is None:
            self._readers = ThreadPoolExecutor(max(1, self.read_threads),
                                               thread_name_prefix="bodo-db-read")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, functools.partial(fn, *args, **kwargs))

    def dispose(self) -> None:
        if self._readers is not None:
            self._readers.shutdown(wait=True, cancel_futures=True)
            self._readers = None
        self.engine.dispose()

    def redacted_url(self) -> str:
        """The URL without its password, for logs."""
        return self.engine.url.render_as_string(hide_password=True)


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg
