"""The database: migrations match the models, SQLite runs in WAL mode, PostgreSQL works."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bodo_jupyter.platform.models import Base, Cluster, ClusterStatus, Organization, User
from bodo_jupyter.platform.store import Store


def schema_diff(store: Store) -> list:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def exercise(store: Store) -> None:
    """Upgrade, compare with the models, and check the live-name rule of clusters."""
    store.upgrade()
    store.upgrade()  # a second start is a no-op
    assert schema_diff(store) == [], "models changed without a migration"
    with store.session() as s:
        org = Organization(name="acme")
        s.add(org)
        s.flush()
        user = User(name="ann", org_id=org.id)
        s.add(user)
        s.flush()
        ids = org.id, user.id

    def cluster(status: ClusterStatus) -> Cluster:
        return Cluster(org_id=ids[0], name="demo", provider="local", instance_type="t",
                       instances=1, cores_per_instance=1, created_by=ids[1], status=status)

    with store.session() as s:
        s.add(cluster(ClusterStatus.TERMINATED))
        s.add(cluster(ClusterStatus.TERMINATED))  # terminated names may repeat
        s.add(cluster(ClusterStatus.RUNNING))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(cluster(ClusterStatus.NEW))  # but only one live cluster per name
    with store.session() as s:
        c = s.query(Cluster).filter_by(status=ClusterStatus.RUNNING).one()
        assert c.created_at.tzinfo is not None


def test_sqlite_default_is_wal_and_migrated(tmp_path):
    store = Store(default_path=tmp_path / "x" / "db.sqlite")
    exercise(store)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_postgresql_by_url(pg_url):
    store = Store(db_url=pg_url)
    assert store.engine.dialect.name == "postgresql"
    assert "postgres@" in store.redacted_url()
    exercise(store)
    store.dispose()
