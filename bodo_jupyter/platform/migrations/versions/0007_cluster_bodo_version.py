"""the Bodo version of a cluster

A cluster runs one Bodo version, chosen at create (its provider offers them);
clusters made before this revision are left without one (NULL), which is what
a cluster that runs without Bodo shows. A column added, nothing rewritten.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 15:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# Plain ALTER TABLE (SQLite >= 3.35 drops columns too), not batch mode: a batch copy of
# the table would rebuild its partial unique index of live names from reflection.


def upgrade() -> None:
    op.add_column("clusters", sa.Column("bodo_version", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("clusters", "bodo_version")
